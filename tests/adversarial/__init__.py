"""The adversarial suite (issue 13): misbehaving agents and runs, and what must hold after
each. ``agents/`` holds the misbehaving ``command`` agents (one script a misbehaviour),
``cases.py`` the cases, ``invariants.py`` the checks run after every case, ``world.py`` the
user's world around the project, ``driver.py`` how a case is run. tests/test_adversarial.py
runs every case at both sandbox levels.
"""
