/**
 * The API's shapes under short names: aliases of the types openapi-typescript generates from
 * the server's OpenAPI document (src/api/schema.d.ts), so a changed field fails the typecheck.
 */
import type { components } from './schema'

type S = components['schemas']

export type Me = S['Me']
export type Session = S['Session']
export type JobSummary = S['JobSummary']
export type JobView = S['JobView']
export type StageView = S['StageView']
export type TaskView = S['TaskView']
export type Plan = S['Plan']
export type PlanStage = S['PlanStage']
export type HostView = S['HostSummary']
export type HostComponentView = S['HostComponentView']
export type HostWithMetrics = S['HostWithMetrics']
export type MetricValue = S['MetricValue']
export type ClusterView = S['ClusterView']
export type RangeView = S['RangeView']
export type SeriesPoints = S['SeriesPoints']
export type SeriesInfo = S['SeriesInfo']
export type IncidentView = S['IncidentView']
export type Citation = S['Citation']
export type ToolTrace = S['ToolTrace']
export type Reply = S['Reply']
export type StoredMessage = S['StoredMessage']
export type Conversation = S['ConversationView']
export type CommandInfo = S['CommandInfo']
export type ComponentInfo = S['ComponentInfo']
export type DocRef = S['DocRef']
export type ServiceInfo = S['ServiceInfo']
export type StackInfo = S['StackInfo']
export type StackDoc = S['StackDoc']
export type Chunk = S['Chunk']
export type SearchResult = S['SearchResult']
export type AuditEvent = S['AuditEvent']
export type Verification = S['Verification']
export type UserView = S['UserView']
export type TokenView = S['TokenView']
export type NewToken = S['NewToken']
export type EnrollmentView = S['EnrollmentView']
export type ChatIdentityView = S['ChatIdentityView']
export type LinkCode = S['LinkCode']
export type JobSummaryText = S['JobLogSummary']
export type Role = S['Role']

/** Events of `GET /api/v1/events`, by their `type` (the SSE event name). */
type LiveEvent<K extends string> = Extract<S['Event'], { type: K }>
export type JobEvent = LiveEvent<'job'>
export type TaskEvent = LiveEvent<'task'>
export type LogEvent = LiveEvent<'log'>
export type IncidentEvent = LiveEvent<'incident'>
export type ProposalEvent = LiveEvent<'proposal'>

/** Event name → payload. */
export interface LiveEvents {
  job: JobEvent
  task: TaskEvent
  log: LogEvent
  incident: IncidentEvent
  proposal: ProposalEvent
}
