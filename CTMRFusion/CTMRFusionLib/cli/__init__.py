"""The ``ctmrfusion`` command line: :mod:`.main` dispatches to one module per subcommand.

``python -m CTMRFusionLib.cli`` runs it as the ``ctmrfusion`` script does.
"""
