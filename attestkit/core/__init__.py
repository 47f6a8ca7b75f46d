"""The pure core: hashing, canonical JSON, strict readers, keys, signing, verification,
policy and webhooks. Nothing here prints, imports click, or touches the network."""
