"""The pure core: nothing here prints, imports click, or touches the network.

One folder per concern: ``crypto`` (canonical JSON, keys, digests), ``receipt`` (reading,
shape, writing, signing, DSSE), ``trust`` (trusted keys, keyrings, delegations, the trust
decision), ``policy`` (built-in, rule-file and Rego policies), ``verify`` (the checks, the
result, bulk), ``produce`` (pipelines and receipt building), ``render`` (CI report formats),
``webhooks`` and ``tlog`` (transparency logs). ``timeutil``, ``textsafe`` and ``secret_env``
are small helpers shared by all of them.
"""
