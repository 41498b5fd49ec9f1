import { defineSearchAttributeKey } from '@temporalio/common';

/** Custom search attributes shown and filterable in the Web UI; registered by the dev server at start. */
export const MSM_SPEC = defineSearchAttributeKey('MsmSpec', 'KEYWORD');
export const MSM_BASE_MODEL = defineSearchAttributeKey('MsmBaseModel', 'KEYWORD');
export const MSM_STAGE = defineSearchAttributeKey('MsmStage', 'KEYWORD');
export const MSM_ARM = defineSearchAttributeKey('MsmArm', 'KEYWORD');
export const MSM_FRACTION = defineSearchAttributeKey('MsmFraction', 'DOUBLE');

/** name=Type pairs as `temporal server start-dev --search-attribute` expects them. */
export const SEARCH_ATTRIBUTE_FLAGS: string[] = [
  'MsmSpec=Keyword',
  'MsmBaseModel=Keyword',
  'MsmStage=Keyword',
  'MsmArm=Keyword',
  'MsmFraction=Double',
];
