"""Datasets in their official layouts, frame sampling, transforms, samplers and the DataModule."""
