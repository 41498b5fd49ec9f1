/** The kinds of AFT question and the response styles an experiment may ask for (aft.generate). */
export const QUESTION_TYPES = ['direct', 'indirect', 'comparison', 'recommendation', 'opinion', 'edge-case'] as const;
export type QuestionType = (typeof QUESTION_TYPES)[number];

export const RESPONSE_STYLES = ['value', 'rule'] as const;
export type ResponseStyle = (typeof RESPONSE_STYLES)[number];
