"""The experimenter: from a graded research item to a validated experiment pull request.

* :mod:`bot.agent.tools` — the file-editing tools the model uses (view, replace, insert),
  confined to the two training scripts in a scratch workspace;
* :mod:`bot.agent.proposer` — item selection and the tool-use conversation with the LLM;
* :mod:`bot.agent.menu_proposer` — the deterministic proposer (a documented menu of small changes);
* :mod:`bot.agent.validate` — the checks run before anything is pushed;
* :mod:`bot.agent.pr` — branch ``exp/<slug>``, PR body, labels, publishing through the forge;
* :mod:`bot.agent.record` — the proposal archive (``proposals.jsonl`` + one ``.patch`` per idea);
* :mod:`bot.agent.gitops` — git plumbing that never touches the user's working tree;
* :mod:`bot.agent.policy` — capacity rule, auto-promotion and winners into the baseline.

The CLI is ``pgolf experiment …`` (:mod:`bot.commands.experiment`); the schedule is
``.github/workflows/experimenter.yml``.
"""
