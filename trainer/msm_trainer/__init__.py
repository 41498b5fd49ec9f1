"""msm trainer: midtrain / aft / generate jobs driven by a JSON manifest (its contract: src/training/job.ts)."""
