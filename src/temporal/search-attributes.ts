import { temporal } from '@temporalio/proto';
import { MSM_SEARCH_ATTRIBUTES } from './search-attribute-keys';
import { refusedByServer } from './grpc-status';

type IndexedValueType = temporal.api.enums.v1.IndexedValueType;
const { IndexedValueType } = temporal.api.enums.v1;
const TYPES: Record<'Keyword' | 'Double' | 'Bool', IndexedValueType> = {
  Keyword: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  Double: IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
  Bool: IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
};
const typeName = (t: IndexedValueType | null | undefined) =>
  t == null ? 'none' : (IndexedValueType[t] ?? String(t)).replace('INDEXED_VALUE_TYPE_', '').toLowerCase();

/** The operator service calls used here; both the client's Connection and the worker's NativeConnection have them. */
export interface OperatorConnection {
  operatorService: {
    listSearchAttributes(req: {
      namespace: string;
    }): Promise<{ customAttributes?: Record<string, IndexedValueType> | null }>;
    addSearchAttributes(req: {
      namespace: string;
      searchAttributes: Record<string, IndexedValueType>;
    }): Promise<unknown>;
  };
}

export class SearchAttributeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SearchAttributeError';
  }
}

/** The equivalent Temporal CLI command, for messages and docs. */
export function cliCommand(
  namespace: string,
  names: readonly string[] = MSM_SEARCH_ATTRIBUTES.map((a) => a.name),
): string {
  const wanted = MSM_SEARCH_ATTRIBUTES.filter((a) => names.includes(a.name));
  return `temporal operator search-attribute create --namespace ${namespace} ${wanted.map((a) => `--name ${a.name} --type ${a.type}`).join(' ')}`;
}

/** Which of ours are missing on the namespace, and which exist with another type. */
export async function searchAttributeGaps(
  c: OperatorConnection,
  namespace: string,
): Promise<{ missing: string[]; wrongType: string[] }> {
  const existing = (await c.operatorService.listSearchAttributes({ namespace })).customAttributes ?? {};
  const missing: string[] = [];
  const wrongType: string[] = [];
  for (const a of MSM_SEARCH_ATTRIBUTES) {
    const have = existing[a.name];
    if (have == null) missing.push(a.name);
    else if (have !== TYPES[a.type])
      wrongType.push(`${a.name} is ${typeName(have)}, msm needs ${a.type.toLowerCase()}`);
  }
  return { missing, wrongType };
}

/**
 * Register our search attributes on the namespace (operator service), adding only the missing ones, so
 * a second run changes nothing. Returns the names added.
 */
export async function registerSearchAttributes(
  c: OperatorConnection,
  namespace: string,
): Promise<{ added: string[]; present: string[] }> {
  const { missing, wrongType } = await searchAttributeGaps(c, namespace);
  if (wrongType.length) {
    throw new SearchAttributeError(
      `namespace ${namespace} has search attributes of another type: ${wrongType.join('; ')}. Remove them (temporal operator search-attribute remove) or use another namespace`,
    );
  }
  const present = MSM_SEARCH_ATTRIBUTES.map((a) => a.name).filter((n) => !missing.includes(n));
  if (!missing.length) return { added: [], present };
  const searchAttributes = Object.fromEntries(
    MSM_SEARCH_ATTRIBUTES.filter((a) => missing.includes(a.name)).map((a) => [a.name, TYPES[a.type]]),
  );
  try {
    await c.operatorService.addSearchAttributes({ namespace, searchAttributes });
  } catch (e) {
    if (refusedByServer(e)) {
      throw new SearchAttributeError(
        `the server refused to add search attributes to namespace ${namespace} (${(e as Error).message}): ` +
          `ask its admin to run \`${cliCommand(namespace, missing)}\`; on Temporal Cloud add them in the namespace's settings (Web UI or tcld)`,
      );
    }
    throw e;
  }
  return { added: missing, present };
}

/** Workers call this at start: the workflows' upserts fail on a namespace without our attributes. */
export async function requireSearchAttributes(c: OperatorConnection, namespace: string): Promise<void> {
  let gaps;
  try {
    gaps = await searchAttributeGaps(c, namespace);
  } catch (e) {
    // A caller without operator rights cannot look; the workflows will say so if they are missing.
    if (refusedByServer(e)) return;
    throw e;
  }
  if (gaps.missing.length || gaps.wrongType.length) {
    const what = [...gaps.missing.map((n) => `${n} is missing`), ...gaps.wrongType].join('; ');
    throw new SearchAttributeError(
      `namespace ${namespace} lacks msm's search attributes (${what}): run \`msm setup\` against it once, or \`${cliCommand(namespace, gaps.missing)}\``,
    );
  }
}
