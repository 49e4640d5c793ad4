"""Checkpoints: their files (:mod:`.files`), which one to use (:mod:`.policy`), and the
network rebuilt from one (:mod:`.rebuild`). The callback that writes ``last.ckpt`` is
:class:`stgcn_reid.callbacks.resume.ResumeCheckpoint`."""
