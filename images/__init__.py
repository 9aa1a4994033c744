"""Images Floe builds for itself: the workspace image and, without a registry, its base."""
