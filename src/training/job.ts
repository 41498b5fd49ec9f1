/**
 * Trainer job contract (TypeScript <-> Python): the manifest's schema is src/training/manifest-schema.ts; the
 * trainer validates against its JSON Schema in trainer/msm_trainer/manifest.py, and docs/ARCHITECTURE.md
 * describes the job's life.
 * A job is a JSON manifest; the Python job prints one JSON event per line on stdout.
 * Exit 0 = done, exit 2 = bad input (not retryable), exit 3 = locked by another process (retried), anything
 * else = a failure (retried up to compute.maxRestarts times without a new checkpoint; see src/training/restarts.ts).
 */
import type { z } from 'zod';
import type {
  jobWorldSchema,
  modelInitSchema,
  trainerJobKinds,
  trainerJobManifestSchema,
  trainHyperSchema,
} from './manifest-schema';

// The manifest's types are the schema's input (what the orchestrator writes; the trainer fills the defaults):
// src/training/manifest-schema.ts declares every field, its bounds and its default once.
export type TrainerJobKind = (typeof trainerJobKinds)[number];
export type ModelInit = z.input<typeof modelInitSchema>;
export type TrainHyper = z.input<typeof trainHyperSchema>;
export type JobWorld = z.input<typeof jobWorldSchema>;
export type TrainerJobManifest = z.input<typeof trainerJobManifestSchema>;

export type TrainerEvent =
  | { event: 'progress'; step: number; totalSteps: number; loss?: number; tokensPerSec?: number }
  | { event: 'checkpoint'; step: number; uri: string }
  | { event: 'resumed'; step: number; uri: string }
  | { event: 'done'; outputUri: string; metrics: Record<string, number> }
  | { event: 'error'; message: string; retryable: boolean };

export const TRAINER_EXIT_BAD_INPUT = 2;
/** Another trainer process holds the job's lock (e.g. a previous attempt still dying): retried, never counted as a failure. */
export const TRAINER_EXIT_LOCKED = 3;
