import type { Experiment } from '../config/experiment-schema';
import type { ModelIdentity } from '../config/model-identity';
import {
  assertionsOutputSchema,
  assertionsPrompt,
  domainsOutputSchema,
  domainsPrompt,
  PROMPT_VERSION,
} from './prompts';
import type { Assertion, CorpusUnit, DomainsOutput, Prompt } from './prompts';
import { emptyStageList, newItems, stageCall, type StageCall, type StageList } from './stage-list';
import { addUsage, NO_USAGE, type Usage } from '../cost/usage';
import { parseSpec, SpecParseError } from '../model-spec/parse-spec';
import type { ArtifactStore } from '../store/artifact-store';
import { readJson, writeJson } from '../store/json';
import { assertionsKey, domainsKey, unitsKey } from './keys';
import { badInput } from '../temporal/failures';
import { completeJson, usageFor } from '../llm/call';
import { DOMAIN_ROUNDS, domainsFor } from './target';

/**
 * The structured stages before documents, with top-up: every stored list only grows, a run asking for
 * more than was ever asked sends one call for the missing number (listing what exists so the model does
 * not repeat it), and a run asking for less uses the first n.
 */
type Generation = Experiment['generation'];

/** A unit as stored in units.json; in rules mode `ruleId` names the spec rule it is about. */
export type Unit = Omit<CorpusUnit, 'assertions'> & { ruleId?: string };

type Domain = DomainsOutput['domains'][number];

/** The domain plan: one segment per call, so a smaller `domains` count selects the segments it asked for. */
export interface DomainPlan {
  promptVersion: string;
  segments: { requested: number; call: StageCall; domains: Domain[] }[];
}

/** Calls after which a list still short of the count (the model kept repeating stored items) stays short. */
const TOP_UP_ROUNDS = 3;

/** The stored list at `key` extended to `want` items if no run asked for that many yet; its first `want`. */
export async function topUpList<T>(
  store: ArtifactStore,
  key: string,
  want: number,
  ask: (count: number, existing: T[]) => Promise<{ items: T[]; prompt: Prompt }>,
  textOf: (item: T) => string,
): Promise<{ items: T[]; calls: number }> {
  const list = (await store.exists(key)) ? await readJson<StageList<T>>(store, key) : emptyStageList<T>();
  let calls = 0;
  if (want > list.requested) {
    for (let round = 0; round < TOP_UP_ROUNDS && list.items.length < want; round++) {
      const missing = want - list.items.length;
      const answer = await ask(missing, list.items);
      calls++;
      const kept = newItems(list.items, answer.items, textOf).slice(0, missing);
      list.items.push(...kept);
      list.calls.push(stageCall(answer.prompt, missing, kept.length));
      await writeJson(store, key, list); // after every paid call: a crash loses at most the call in flight
    }
    list.requested = want;
    await writeJson(store, key, list);
  }
  return { items: list.items.slice(0, want), calls };
}

/** The first `n` items of a stored list. */
export async function storedItems<T>(store: ArtifactStore, key: string, n: number): Promise<T[]> {
  return (await readJson<StageList<T>>(store, key)).items.slice(0, n);
}

/** The rules of the spec, verbatim with their sub-rules, each with the section it sits in. */
function specRules(specMarkdown: string, source: string): { specSection: string; ruleId: string; text: string }[] {
  let spec;
  try {
    spec = parseSpec(specMarkdown, source);
  } catch (e) {
    if (e instanceof SpecParseError)
      throw badInput(
        `generation.mode "rules" writes about the spec's rules, but the spec does not parse: ${e.message}`,
        e,
      );
    throw e;
  }
  // parseSpec accepts only specs with at least one section, each with at least one rule.
  return spec.sections.flatMap((s) =>
    s.rules.map((r) => ({
      specSection: s.title,
      ruleId: r.id,
      text: [r.text, ...r.subrules.map((x) => `- ${x}`)].join('\n'),
    })),
  );
}

function unitsOf(domains: Domain[], g: Generation, rules: () => ReturnType<typeof specRules>): Unit[] {
  if (g.mode === 'rules') {
    return domains.flatMap((d) =>
      rules().map((r) => ({
        domain: d.name,
        subdomain: '',
        specSection: r.specSection,
        ruleId: r.ruleId,
        rules: [r.text],
      })),
    );
  }
  // A subdomain named twice in one domain (small models repeat themselves) is one unit.
  return domains.flatMap((d) =>
    d.subdomains.length
      ? newItems([], d.subdomains, (s) => s.name).map((s) => ({
          domain: d.name,
          subdomain: s.name,
          specSection: s.specSection,
        }))
      : [{ domain: d.name, subdomain: d.name, specSection: '' }],
  );
}

/**
 * Stage 1: the domain plan, topped up when `domains` is larger than every earlier run asked for, and
 * its units (all of them in units.json, in plan order). `selected` is how many of them this run uses:
 * the units of the segments its `domains` count covers, capped at maxUnits.
 */
export async function planUnits(
  store: ArtifactStore,
  prefix: string,
  spec: { markdown: string; source: string; identity?: ModelIdentity },
  g: Generation,
): Promise<{ units: Unit[]; selected: number; usage: Usage }> {
  const key = domainsKey(prefix);
  const plan: DomainPlan = (await store.exists(key))
    ? await readJson<DomainPlan>(store, key)
    : { promptVersion: PROMPT_VERSION, segments: [] };
  let rules: ReturnType<typeof specRules> | undefined;
  const rulesOnce = () => (rules ??= specRules(spec.markdown, spec.source));
  if (g.mode === 'rules') rulesOnce(); // a spec without rules fails before anything is paid
  let usage = NO_USAGE;
  const asked = plan.segments.reduce((n, s) => n + s.requested, 0);
  const known = plan.segments.flatMap((s) => s.domains);
  if (g.domains > asked) {
    const count = g.domains - asked;
    const p = domainsPrompt(spec.markdown, {
      count,
      existing: known.map((d) => d.name),
      subdomains: g.mode !== 'rules',
      identity: spec.identity,
    });
    const { value, result } = await completeJson(
      g.provider,
      { ...p, temperature: g.temperature, requestId: `${key}#${asked}` },
      domainsOutputSchema,
    );
    usage = usageFor(g.provider, result);
    const kept = newItems(known, value.domains, (d) => d.name);
    plan.segments.push({ requested: count, call: stageCall(p, count, kept.length), domains: kept });
    await writeJson(store, key, plan);
  }
  const units: Unit[] = [];
  let selected = 0;
  let covered = 0;
  for (const s of plan.segments) {
    units.push(...unitsOf(s.domains, g, rulesOnce));
    // A segment is used when the counts asked before it fall short of this run's count.
    if (covered < g.domains) selected = units.length;
    covered += s.requested;
  }
  const stored = (await store.exists(unitsKey(prefix))) ? await readJson<Unit[]>(store, unitsKey(prefix)) : undefined;
  if (JSON.stringify(stored) !== JSON.stringify(units)) await writeJson(store, unitsKey(prefix), units);
  if (!selected)
    throw badInput(`the domain plan in ${key} has no units: delete it to plan again, or raise generation.domains`);
  return { units, selected: Math.min(selected, g.maxUnits), usage };
}

/**
 * Stage 1 for a target (generation.targetTokens, or a top-up round): `wanted` units, at most maxUnits,
 * domains added to the plan while it has fewer (DOMAIN_ROUNDS calls at most; then it plans what it has).
 */
export async function planUnitsFor(
  store: ArtifactStore,
  prefix: string,
  spec: { markdown: string; source: string; identity?: ModelIdentity },
  generation: Generation,
  wanted: number,
): Promise<{ selected: number; usage: Usage }> {
  let g = { ...generation, maxUnits: Math.min(generation.maxUnits, wanted) };
  let usage = NO_USAGE;
  for (let round = 0; ; round++) {
    const r = await planUnits(store, prefix, spec, g);
    usage = addUsage(usage, r.usage);
    if (r.selected >= g.maxUnits || round === DOMAIN_ROUNDS) return { selected: r.selected, usage };
    g = { ...g, domains: domainsFor(g.domains, r.selected, g.maxUnits) };
  }
}

/** Stage 1b (assertions mode): what unit u's documents should convey, written once and stored with its prompt. */
export async function ensureAssertions(
  store: ArtifactStore,
  prefix: string,
  specMarkdown: string,
  units: Unit[],
  u: number,
  g: Generation,
  identity?: ModelIdentity,
): Promise<{ assertions: Assertion[]; calls: number; usage: Usage }> {
  const key = assertionsKey(prefix, u);
  if (await store.exists(key))
    return { assertions: (await readJson<StageList<Assertion>>(store, key)).items, calls: 0, usage: NO_USAGE };
  const p = assertionsPrompt(specMarkdown, units[u], { identity });
  const { value, result } = await completeJson(
    g.provider,
    { ...p, temperature: g.temperature, requestId: key },
    assertionsOutputSchema,
  );
  const assertions = newItems([], value.assertions, (a) => a.text);
  const list: StageList<Assertion> = {
    ...emptyStageList<Assertion>(),
    requested: assertions.length,
    items: assertions,
    calls: [stageCall(p, value.assertions.length, assertions.length)],
  };
  await writeJson(store, key, list);
  return { assertions, calls: 1, usage: addUsage(NO_USAGE, usageFor(g.provider, result)) };
}

/** Unit u as the type, idea and document prompts see it: with its assertions when it has them. */
export async function unitInContext(
  store: ArtifactStore,
  prefix: string,
  units: Unit[],
  u: number,
): Promise<CorpusUnit> {
  const key = assertionsKey(prefix, u);
  if (!(await store.exists(key))) return units[u];
  return { ...units[u], assertions: (await readJson<StageList<Assertion>>(store, key)).items };
}
