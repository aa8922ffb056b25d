"""Caption review: read and fix the sidecar ``.txt`` captions beside training images.

What a caption names is what the embedding does *not* learn, so captions are worth a
second look. The pieces are small and pure where they can be:

- :mod:`.sidecar` reads and writes one caption file, keeping its encoding and line endings,
  and refuses to overwrite a file changed on disk since it was loaded;
- :mod:`.edits` bulk edits (find/replace, prepend/append, tag operations) as pure functions
  with a preview;
- :mod:`.session` a loaded folder: navigation, saving, bulk apply with one-step undo;
- :mod:`.filters`, :mod:`.tokens`, :mod:`.stats` views over the captions;
- :mod:`.captioner` BLIP captioning (transformers standalone, the host's interrogator inside it);
- :mod:`.thumbs` lazily generated, cached gallery thumbnails.
"""
