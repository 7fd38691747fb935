"""The parts of the fake RunningHub (:mod:`comfykit_sync.testing.fake_runninghub`).

``wire`` (envelopes, codes, request bodies), ``records`` (scripts and what the fake keeps),
``tasks`` (workflows, admission and the task clock), ``outputs`` (the files a task produces),
``cdn`` (the file host with expiring URLs) and ``api`` (the endpoints).
"""
