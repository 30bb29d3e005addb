"""Tier 2 compute: pod providers (RunPod, local), remote execution, promotion, reaper."""
