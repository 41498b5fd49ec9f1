import { describe, expect, it } from 'vitest';
import { InvalidExperimentError, parseExperiment } from '../../src/config/experiment-schema';

const minimal = { name: 'x', spec: 'specs/demo.md', aft: { data: 'a.jsonl' }, eval: { prompts: 'e.jsonl' } };
const withGeneration = (generation: Record<string, unknown>) => () => parseExperiment({ ...minimal, generation });

/** The experiment fields that size a corpus workflow's history are capped, each with the fix in the message. */
describe('scale limits of corpus generation', () => {
  it('caps maxUnits and batchUnits, naming the field and what to do instead', () => {
    expect(withGeneration({ maxUnits: 50_000, batchUnits: 100 })).not.toThrow();
    expect(withGeneration({ maxUnits: 50_001 })).toThrow(InvalidExperimentError);
    expect(withGeneration({ maxUnits: 50_001 })).toThrow(/generation\.maxUnits: at most 50000 units: split the spec/);
    expect(withGeneration({ batchUnits: 101 })).toThrow(
      /generation\.batchUnits: at most 100 units per generation activity/,
    );
  });

  it('unitsPerRun is optional (the workflow defaults it) and a positive integer when given', () => {
    expect(parseExperiment(minimal).generation.unitsPerRun).toBeUndefined();
    expect(parseExperiment({ ...minimal, generation: { unitsPerRun: 2 } }).generation.unitsPerRun).toBe(2);
    expect(withGeneration({ unitsPerRun: 0 })).toThrow(/generation\.unitsPerRun/);
    expect(withGeneration({ unitsPerRun: 1.5 })).toThrow(/generation\.unitsPerRun/);
  });
});

describe('scale limits of AFT data generation', () => {
  const withAft = (generate: Record<string, unknown>) => () =>
    parseExperiment({ ...minimal, aft: { generate: { provider: { kind: 'local' }, ...generate } } });
  it('caps the answer activities of a round (count / batchQuestions), naming the fix', () => {
    expect(withAft({ count: 9600, batchQuestions: 8 })).not.toThrow(); // the paper files
    expect(withAft({ count: 32_000, batchQuestions: 8 })).not.toThrow();
    expect(withAft({ count: 32_001, batchQuestions: 8 })).toThrow(
      /aft\.generate\.batchQuestions: at most 4000 answer activities a round \(count \/ batchQuestions\): raise batchQuestions/,
    );
  });
});
