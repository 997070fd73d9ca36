"""`minikube-py`: one console script, one subcommand per component or cluster action.

main.py parses the command line and dispatches; each module turns one subcommand's flags
into its component's settings (`apiserver`, `scheduler`, `controller-manager`, `agent`)
or calls `minikube_py.cluster` (`up`, `down`, `status`, `lab`, `join`, `token`). Bad flags
are one clear line and exit 1 (flags.py), never a traceback. Only this package imports
`minikube_py.cluster`.
"""
