"""Network reachability: NetworkPolicies evaluated against the pods the build will run.

    from mercury.verify.network import analyze
    analysis = analyze(ctx)          # once per VerifyContext (cached)
    analysis.broken                  # required flows the policies block
    analysis.forbidden               # forbidden flows the policies allow
    analysis.as_json()               # the flow matrix (`mercury plan --format json`)

policy.py parses policies and matches selectors, evaluate.py decides one connection,
pods.py and charts.py list the pods, flows.py the required flows, isolation.py the
forbidden ones. rules/network.py turns them into findings.
"""

from mercury.verify.network.flows import Analysis, Flow, analyze

__all__ = ["Analysis", "Flow", "analyze"]
