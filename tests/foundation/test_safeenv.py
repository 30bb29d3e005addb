from __future__ import annotations

from bot.safeenv import clean_env, is_secret_name


def test_credentials_are_dropped_knobs_survive() -> None:
    base = {
        "GITHUB_TOKEN": "t",
        "GH_TOKEN": "t",
        "ANTHROPIC_API_KEY": "k",
        "RUNPOD_API_KEY": "k",
        "GH_APP_PRIVATE_KEY": "pem",
        "AWS_SECRET_ACCESS_KEY": "s",
        "SSH_AUTH_SOCK": "/tmp/agent",
        "PGOLF_HOURLY_RATE_USD": "20",
        "TOKENIZER_PATH": "/data/tok.model",
        "TRAIN_BATCH_TOKENS": "65536",
        "VAL_MAX_TOKENS": "0",
        "PATH": "/usr/bin",
        "HOME": "/root",
    }
    env = clean_env({"RUN_ID": "x"}, base=base)
    assert env == {
        "TOKENIZER_PATH": "/data/tok.model",
        "TRAIN_BATCH_TOKENS": "65536",
        "VAL_MAX_TOKENS": "0",
        "PATH": "/usr/bin",
        "HOME": "/root",
        "RUN_ID": "x",
    }
    assert is_secret_name("hf_token") and not is_secret_name("MONKEY_BUSINESS")
