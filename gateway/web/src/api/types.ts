// Names for the generated types of `/v1/openapi.json` (schema.d.ts, `npm run gen:api`).
import type { components } from './schema';

type S = components['schemas'];
export type DialogItem = S['DialogItem'];
export type DialogPage = S['DialogPage'];
export type TabName = S['TabName'];
export type OrderName = S['OrderName'];
export type Counters = S['Counters'];
export type TimelineItem = S['Item'];
export type TimelineAnswer = S['TimelineAnswer'];
export type CardAnswer = S['CardAnswer'];
export type ProjectAnswer = S['ProjectAnswer'];
export type Me = S['Me'];
export type LiveRow = S['LiveRow'];
export type LiveMessage = S['LiveMessage'];
export type LiveRemove = S['LiveRemove'];
export type LiveMark = S['LiveMark'];
export type DialogAction = S['DialogAction'];
export type ErrorAnswer = S['ErrorAnswer'];
export type ProjectAction = S['ProjectAction'];
export type ProfileAnswer = S['ProfileAnswer'];
export type TokenInfo = S['TokenInfo'];
export type ProfileChange = S['ProfileChange'];
export type JobView = S['JobView'];
export type BulkRequest = S['BulkRequest'];
export type BulkAnswer = S['BulkAnswer'];
export type SearchHit = S['Hit'];
export type TagCount = S['TagCount'];
