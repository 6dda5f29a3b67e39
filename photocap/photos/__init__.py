"""Photos on disk: what a file is (kinds), where the photos are (discover), their pixels (decode)."""
