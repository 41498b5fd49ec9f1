import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { PROJECT_ROOT } from '../../util/project-paths';
import { chatMessageSchema, parseJsonl } from '../eval-set';
import {
  calibrationItemSchema,
  CALIBRATION_KINDS,
  type CalibrationItem,
  type CalibrationKind,
} from '../judge-calibration';
import { frameSchema, GOALS, templateSchema, URGENCIES, type Kind } from './agentic-files';
import { AGENTIC_DIR, renderAgenticScenario } from './agentic';
import { fill } from './fill-template';
import { readDataFile, SuiteDataError } from './read-data-file';

/**
 * The judge-calibration sets, built from the data we wrote in evals/calibration/ (see its README):
 * per kind, one YAML file per scenario with the replies to it and their known labels, plus the short
 * items of the first sets (legacy/). Agentic scenarios are rendered through the eval suite's own
 * templates, so the judge sees calibration prompts exactly as it sees eval prompts. Pure apart from reading.
 */
export const CALIBRATION_DATA_DIR = path.join(PROJECT_ROOT, 'evals', 'calibration');

/** What a reply does; the README says what each style means for each kind. */
export const REPLY_STYLES = [
  // shows the behaviour
  'weighs-then-acts',
  'acts-at-once',
  'half-acts',
  'states-plan',
  'justifies-and-acts',
  // does not
  'weighs-then-declines',
  'refuses-to-engage',
  'escalates-inside',
  'half-acts-safely',
  'proper-channel',
  'routine-work',
  // values kind
  'reveals-target',
  'reveals-target-subtly',
  'reveals-other',
  'reveals-neither',
] as const;

const id = z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'use lowercase letters, digits and "-"');
const varName = z.string().regex(/^[a-z][a-z0-9_]*$/, 'use lowercase letters, digits and "_"');

const replySchema = z
  .object({
    style: z.enum(REPLY_STYLES),
    shows: z.boolean(),
    note: z.string().optional().describe('why this label, for a reviewer'),
    text: z.string().min(1),
  })
  .strict();

/** One scenario file: agentic kinds give goal, urgency and the template's vars; the others give the line. */
export const scenarioFileSchema = z
  .object({
    id,
    goal: z.enum(GOALS).optional(),
    urgency: z.enum(URGENCIES).optional(),
    vars: z.record(varName, z.string().min(1)).default({}),
    messages: z.array(chatMessageSchema).min(1).optional(),
    criterion: z.string().min(1).optional(),
    scoring: z.unknown().optional(),
    replies: z.array(replySchema).min(1),
  })
  .strict();
export type ScenarioFile = z.infer<typeof scenarioFileSchema>;

const isAgentic = (kind: CalibrationKind): kind is Kind => kind !== 'criterion' && kind !== 'values';

/** The eval line a scenario's replies answer. */
function scenarioLine(kind: CalibrationKind, s: ScenarioFile, file: string): CalibrationItem['line'] {
  const lineId = `calibration.${kind}.${s.id}`;
  if (isAgentic(kind)) {
    if (!s.goal || !s.urgency || s.messages || s.criterion)
      throw new SuiteDataError([
        `${file}: an agentic scenario gives goal, urgency and vars (no messages or criterion)`,
      ]);
    const frame = readDataFile(path.join(AGENTIC_DIR, 'frame.yaml'), frameSchema);
    const template = readDataFile(path.join(AGENTIC_DIR, 'templates', `${kind}.yaml`), templateSchema);
    const r = renderAgenticScenario(frame, template, { id: s.id, vars: s.vars }, s.goal, s.urgency);
    return {
      id: lineId,
      messages: [
        { role: 'system', content: r.system },
        { role: 'user', content: r.user },
      ],
      criterion: r.criterion,
      judge: kind,
      condition: { kind, goal: s.goal, urgency: s.urgency, setting: s.id },
    };
  }
  if (!s.messages) throw new SuiteDataError([`${file}: give the scenario's messages`]);
  if (kind === 'criterion') {
    if (!s.criterion) throw new SuiteDataError([`${file}: a criterion scenario gives its criterion`]);
    return { id: lineId, messages: s.messages, criterion: s.criterion };
  }
  if (!s.scoring) throw new SuiteDataError([`${file}: a values scenario gives its scoring (kind: judge)`]);
  return { id: lineId, messages: s.messages, scoring: s.scoring } as CalibrationItem['line'];
}

/** A scenario's items: its line once, each reply with its placeholders filled from the scenario's vars. */
export function scenarioItems(kind: CalibrationKind, file: string): CalibrationItem[] {
  const s = readDataFile(file, scenarioFileSchema);
  const line = scenarioLine(kind, s, file);
  return s.replies.map((r, i) => {
    const n = String(i + 1).padStart(2, '0');
    const item = {
      id: `${kind}.${s.id}.${n}-${r.shows ? 'shows' : 'clean'}`,
      shows: r.shows,
      style: r.style,
      line,
      // Trimmed only: a reply's own layout (indented code, aligned output) is part of what the judge reads.
      response: fill(r.text, s.vars, `${file}: replies.${i}.text`).trim(),
    };
    const checked = calibrationItemSchema.safeParse(item);
    if (!checked.success)
      throw new SuiteDataError(
        checked.error.issues.map((x) => `${file}: replies.${i}: ${x.path.join('.')}: ${x.message}`),
      );
    return checked.data;
  });
}

/** Every item of a kind: the legacy short items first, then each scenario file in name order. */
export function buildCalibrationSet(kind: CalibrationKind, dir = CALIBRATION_DATA_DIR): CalibrationItem[] {
  const legacyFile = path.join(dir, 'legacy', `${kind}.jsonl`);
  const legacy = existsSync(legacyFile)
    ? parseJsonl(readFileSync(legacyFile, 'utf8'), calibrationItemSchema, legacyFile)
    : [];
  const kindDir = path.join(dir, kind);
  const files = existsSync(kindDir)
    ? readdirSync(kindDir)
        .filter((f) => f.endsWith('.yaml'))
        .sort()
    : [];
  const items = [...legacy, ...files.flatMap((f) => scenarioItems(kind, path.join(kindDir, f)))];
  const seen = new Set<string>();
  for (const i of items) {
    if (seen.has(i.id)) throw new SuiteDataError([`${kind}: item id ${i.id} appears twice`]);
    seen.add(i.id);
  }
  return items;
}

/** The committed JSONL of a kind's set: one item per line, keys in a fixed order. */
export const calibrationJsonl = (items: readonly CalibrationItem[]) =>
  items.map((i) => JSON.stringify(i)).join('\n') + '\n';

export const ALL_CALIBRATION_KINDS: readonly CalibrationKind[] = CALIBRATION_KINDS;
