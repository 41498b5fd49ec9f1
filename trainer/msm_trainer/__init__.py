"""msm trainer: midtrain / aft / generate jobs driven by a JSON manifest (see trainer/README.md)."""
