"""Training photocap's captioner: data, feature cache, train loop, the Flickr8k recipe."""
