"""OCI content and registries: media types and descriptors, the content-addressed blob
store, image references, the registry client (auth, tokens, Artifact Registry), base images
and referrer artifacts."""
