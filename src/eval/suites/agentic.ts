import { readdirSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../../util/project-paths';
import {
  frameSchema,
  GOALS,
  KINDS,
  settingsSchema,
  templateSchema,
  URGENCIES,
  type EmailTemplate,
  type ExecutedTemplate,
  type Frame,
  type Goal,
  type Kind,
  type Settings,
  type Snippet,
  type Template,
  type Urgency,
} from './agentic-files';
import { fill, tidy } from './fill-template';
import { readDataFile, SuiteDataError } from './read-data-file';
import type { ExecutedRule } from '../eval-set';

/**
 * The agentic-misalignment suite: scenario templates (one per kind) × company settings × goal condition ×
 * urgency, expanded deterministically into eval lines. Data lives in evals/agentic/ (see its README).
 *
 * Split (frozen): each kind's settings file names one `heldout` setting; every line set there is
 * "heldout", every other line "dev". The split is by setting, so held-out lines differ from dev lines in
 * company, people and wording, never in grid cell: both splits cover the full kind × goal × urgency grid.
 */
export const AGENTIC_DIR = path.join(PROJECT_ROOT, 'evals', 'agentic');

export interface AgenticSuite {
  frame: Frame;
  /** In KINDS order. */
  kinds: Array<{ template: Template; settings: Settings }>;
}

export interface AgenticEvalLine {
  id: string;
  messages: [{ role: 'system'; content: string }, { role: 'user'; content: string }];
  criterion: string;
  judge: Kind;
  /** When the harmful act counts as executed: the template's rule filled for the setting (src/eval/executed.ts). */
  executed: ExecutedRule;
  condition: { kind: Kind; goal: Goal; urgency: Urgency; setting: string };
  split: 'dev' | 'heldout';
}

/** Filled in by the generator, so neither a snippet nor a setting may use these names. */
const BUILT_IN = ['tool_list', 'email_count', 'emails', 'email_id', 'from', 'to', 'time', 'subject', 'body'];

export function loadAgenticSuite(dir = AGENTIC_DIR): AgenticSuite {
  const frame = readDataFile(path.join(dir, 'frame.yaml'), frameSchema);
  for (const sub of ['templates', 'settings']) {
    const extra = readdirSync(path.join(dir, sub)).filter((f) => !KINDS.some((k) => f === `${k}.yaml`));
    if (extra.length)
      throw new SuiteDataError([
        `${path.join(dir, sub)}: ${extra.join(', ')}: only ${KINDS.map((k) => `${k}.yaml`).join(', ')} are read (a new kind needs its judge prompt first)`,
      ]);
  }
  const kinds = KINDS.map((kind) => {
    const templateFile = path.join(dir, 'templates', `${kind}.yaml`);
    const settingsFile = path.join(dir, 'settings', `${kind}.yaml`);
    const template = readDataFile(templateFile, templateSchema);
    const settings = readDataFile(settingsFile, settingsSchema);
    const problems: string[] = [];
    if (template.kind !== kind) problems.push(`${templateFile}: kind: "${template.kind}" in the file for ${kind}`);
    if (settings.kind !== kind) problems.push(`${settingsFile}: kind: "${settings.kind}" in the file for ${kind}`);
    for (const name of Object.keys(template.snippets)) {
      if (name in frame.snippets) problems.push(`${templateFile}: snippets.${name}: already a snippet of frame.yaml`);
      if (BUILT_IN.includes(name))
        problems.push(`${templateFile}: snippets.${name}: the generator fills this name itself`);
    }
    settings.settings.forEach((s, i) => {
      for (const name of Object.keys(s.vars)) {
        if (name in frame.snippets || name in template.snippets)
          problems.push(`${settingsFile}: settings.${i}.vars.${name}: also the name of a snippet`);
        if (BUILT_IN.includes(name))
          problems.push(`${settingsFile}: settings.${i}.vars.${name}: the generator fills this name itself`);
      }
      for (const name of Object.keys(s.lists))
        if (name in s.vars || name in frame.snippets || name in template.snippets || BUILT_IN.includes(name))
          problems.push(`${settingsFile}: settings.${i}.lists.${name}: also the name of a variable or snippet`);
    });
    if (problems.length) throw new SuiteDataError(problems);
    return { template, settings };
  });
  return { frame, kinds };
}

const pick = (s: Snippet, goal: Goal, urgency: Urgency): string =>
  typeof s === 'string' ? s : s.by === 'goal' ? s[goal] : s[urgency];

const applies = (e: EmailTemplate, goal: Goal, urgency: Urgency) =>
  (!e.when?.goal || e.when.goal.includes(goal)) && (!e.when?.urgency || e.when.urgency.includes(urgency));

/** The placeholders of a scenario at one grid cell: the setting's variables, the snippets and the tool list. */
function scenarioVars(
  frame: Frame,
  template: Template,
  setting: { vars: Record<string, string> },
  goal: Goal,
  urgency: Urgency,
): Record<string, string> {
  const snippets = Object.fromEntries(
    Object.entries({ ...frame.snippets, ...template.snippets }).map(([k, s]) => [k, pick(s, goal, urgency)]),
  );
  return {
    ...setting.vars,
    ...snippets,
    tool_list: template.tools.map((t) => `- ${frame.tools[t]}`).join('\n'),
  };
}

/** One scenario of a kind rendered at one grid cell: the system prompt, the inbox and the kind's criterion. */
export function renderAgenticScenario(
  frame: Frame,
  template: Template,
  setting: { id: string; vars: Record<string, string> },
  goal: Goal,
  urgency: Urgency,
): { system: string; user: string; criterion: string } {
  const where = `${template.kind}/${setting.id}/goal=${goal}/urgency=${urgency}`;
  const vars = scenarioVars(frame, template, setting, goal, urgency);
  // Oldest first; emails at the same time keep their file order (frame before template).
  const emails = [...frame.emails, ...template.emails]
    .filter((e) => applies(e, goal, urgency))
    .sort((a, b) => a.time.localeCompare(b.time));
  const rendered = emails.map((e, i) => {
    const field = (name: 'from' | 'to' | 'time' | 'subject' | 'body') =>
      tidy(fill(e[name], vars, `${where}: email at ${e.time}: ${name}`));
    const fields = {
      email_id: String(i + 1),
      from: field('from'),
      to: field('to'),
      time: e.time,
      subject: field('subject'),
      body: field('body'),
    };
    return tidy(fill(frame.email, fields, `${where}: frame email`));
  });
  return {
    system: tidy(fill(frame.system, vars, `${where}: frame system`)),
    user: tidy(
      fill(
        frame.user,
        { ...vars, email_count: String(emails.length), emails: rendered.join('\n\n') },
        `${where}: frame user`,
      ),
    ),
    criterion: tidy(fill(template.criterion, vars, `${where}: criterion`)),
  };
}

const WHOLE_PLACEHOLDER = /^\{\{\s*([A-Za-z0-9_]+)\s*\}\}$/;

/**
 * The kind's executed rule filled for one setting: each item's placeholders from the scenario's variables; an
 * item that is exactly `{{name}}` of one of the setting's lists becomes that list's items.
 */
export function renderExecutedRule(
  frame: Frame,
  template: Template,
  setting: { id: string; vars: Record<string, string>; lists?: Record<string, string[]> },
  goal: Goal,
  urgency: Urgency,
): ExecutedRule {
  const where = `${template.kind}/${setting.id}/goal=${goal}/urgency=${urgency}: executed`;
  const vars = scenarioVars(frame, template, setting, goal, urgency);
  const lists = setting.lists ?? {};
  const items = (key: Exclude<keyof ExecutedTemplate, 'tags'>) => {
    const given = template.executed[key];
    if (!given) return {};
    const out = given.flatMap((item) => {
      const whole = item.match(WHOLE_PLACEHOLDER)?.[1];
      if (whole !== undefined && Object.hasOwn(lists, whole))
        return lists[whole].map((x) => fill(x, vars, `${where}.${key}: {{${whole}}}`).trim());
      return [fill(item, vars, `${where}.${key}`).trim()];
    });
    return { [key]: [...new Set(out)] };
  };
  return {
    tags: [...template.executed.tags],
    ...items('to'),
    ...items('mentions'),
    ...items('src'),
    ...items('destNotUnder'),
  };
}

/** Every kind × setting × goal × urgency, in that nesting order: the same data always gives the same lines. */
export function expandAgentic(suite: AgenticSuite): AgenticEvalLine[] {
  return suite.kinds.flatMap(({ template, settings }) =>
    settings.settings.flatMap((setting) =>
      GOALS.flatMap((goal) =>
        URGENCIES.map((urgency): AgenticEvalLine => {
          const s = renderAgenticScenario(suite.frame, template, setting, goal, urgency);
          const kind = template.kind;
          return {
            id: `agentic.${kind}.${setting.id}.goal-${goal}.urgency-${urgency}`,
            messages: [
              { role: 'system', content: s.system },
              { role: 'user', content: s.user },
            ],
            criterion: s.criterion,
            judge: kind,
            executed: renderExecutedRule(suite.frame, template, setting, goal, urgency),
            condition: { kind, goal, urgency, setting: setting.id },
            split: setting.id === settings.heldout ? 'heldout' : 'dev',
          };
        }),
      ),
    ),
  );
}
