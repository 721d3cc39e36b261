"""Raw inputs decoded the one way every path uses: the models of the raw-input use cases, and the
preprocessing of raw events. numpy, PIL and scipy only, so that any of closeloop's environments can."""
