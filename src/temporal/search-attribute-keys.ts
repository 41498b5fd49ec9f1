import { defineSearchAttributeKey } from '@temporalio/common';

/** Custom search attributes shown and filterable in the Web UI. */
export const MSM_SPEC = defineSearchAttributeKey('MsmSpec', 'KEYWORD');
export const MSM_BASE_MODEL = defineSearchAttributeKey('MsmBaseModel', 'KEYWORD');
export const MSM_STAGE = defineSearchAttributeKey('MsmStage', 'KEYWORD');
export const MSM_ARM = defineSearchAttributeKey('MsmArm', 'KEYWORD');
export const MSM_FRACTION = defineSearchAttributeKey('MsmFraction', 'DOUBLE');
/** True on a run whose cleanup could not release its machines: the reaper (msm reaper) or a person must. */
export const MSM_RELEASE_FAILED = defineSearchAttributeKey('MsmReleaseFailed', 'BOOL');

/** Every custom search attribute the workflows upsert, with its type: registered by `msm setup` on any
 * namespace, by the dev server's flags locally, and checked by workers at start. */
export const MSM_SEARCH_ATTRIBUTES: ReadonlyArray<{ name: string; type: 'Keyword' | 'Double' | 'Bool' }> = [
  { name: MSM_SPEC.name, type: 'Keyword' },
  { name: MSM_BASE_MODEL.name, type: 'Keyword' },
  { name: MSM_STAGE.name, type: 'Keyword' },
  { name: MSM_ARM.name, type: 'Keyword' },
  { name: MSM_FRACTION.name, type: 'Double' },
  { name: MSM_RELEASE_FAILED.name, type: 'Bool' },
];

/** name=Type pairs as `temporal server start-dev --search-attribute` expects them. */
export const SEARCH_ATTRIBUTE_FLAGS: string[] = MSM_SEARCH_ATTRIBUTES.map((a) => `${a.name}=${a.type}`);
