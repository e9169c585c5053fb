/**
 * The API's shapes under short names. Provisional hand-written copies of the server's types
 * until src/api/openapi.json exists; then these become aliases of the generated schema.
 */
import type { Role } from '@/lib/permissions'

export interface Me {
  name: string
  role: Role
}

export interface Session {
  token: string
  username: string
  role: Role
  expires_at: string
}

export interface JobSummary {
  id: number
  cluster: string
  state: string
  source: string
  summary: string
  risk: string
  requested_by: string
  created_at: string
  finished_at?: string | null
  four_eyes?: boolean
}

export interface TaskView {
  id: number
  host: string
  state: string
  attempt: number
  exit_code?: number | null
  error?: string | null
  timeout_secs: number
  digest: string
  env: Record<string, unknown>
  files: string[]
  dispatched_at?: string | null
  started_at?: string | null
  finished_at?: string | null
}

export interface StageView {
  idx: number
  name: string
  service: string
  component: string
  command: string
  state: string
  depends_on: number[]
  script: string
  shared_files: string[]
  started_at?: string | null
  finished_at?: string | null
  tasks: TaskView[]
}

export interface PlanStage {
  name: string
  service: string
  component: string
  command: string
  risk: string
  params: Record<string, unknown>
  depends_on: string[]
  tasks: Array<{ host: string; digest: string }>
}

export interface Plan {
  cluster: string
  stack: string
  stack_version: string
  stages: PlanStage[]
}

export interface JobView {
  id: number
  cluster: string
  state: string
  source: string
  summary: string
  risk: string
  rationale: string
  sources: unknown
  plan: Plan
  plan_hash: string
  requested_by: string
  decided_by?: string | null
  decision_comment?: string | null
  error?: string | null
  created_at: string
  expires_at: string
  approved_at?: string | null
  started_at?: string | null
  finished_at?: string | null
  stages: StageView[]
  four_eyes?: boolean
}

export interface HostComponentView {
  service: string
  component: string
  state: string
}

export interface HostView {
  id: number
  hostname: string
  cluster?: string | null
  state: string
  last_heartbeat?: string | null
  agent_version?: string | null
  labels: unknown
  facts: unknown
  components: HostComponentView[]
  cpu_used_pct?: number | null
  mem_used_pct?: number | null
  disk_used_pct?: number | null
}

export interface MetricValue {
  name: string
  labels: Record<string, string>
  value: number
  at: string
}

export interface HostWithMetrics extends HostView {
  metrics: MetricValue[]
}

export interface ClusterView {
  id: number
  name: string
  stack: string
  stack_version: string
  config: unknown
  hosts: HostView[]
}

export interface SeriesPoints {
  name: string
  labels: Record<string, string>
  points: number[][]
  range?: number[][]
}

export interface RangeView {
  host_id: number
  name: string
  step: string
  from: number
  to: number
  series: SeriesPoints[]
  truncated: boolean
}

export interface SeriesLatest {
  name: string
  labels: Record<string, string>
  latest?: number | null
}

export interface IncidentView {
  id: number
  state: string
  host_id: number
  host: string
  cluster?: string | null
  signal: string
  metric: string
  detector: string
  summary: string
  value: number
  peak: number
  threshold?: number | null
  forecast?: string | null
  opened_at: string
  updated_at: string
  resolved_at?: string | null
  job_id?: number | null
  remediation?: string | null
}

export interface Citation {
  source: string
  title: string
  link: string
}

export interface ToolTrace {
  name: string
  arguments: string
  ok: boolean
  source: string
}

export interface Reply {
  conversation_id: number
  reply: string
  proposals: JobView[]
  tool_calls: ToolTrace[]
  sources: string[]
  citations: Citation[]
}

export interface StoredMessage {
  id: number
  role: string
  content: string
  proposals: number[]
  tool_calls?: ToolTrace[]
  citations?: Citation[]
  at: string
}

export interface Conversation {
  id: number
  channel: string
  title?: string | null
  created_at: string
  updated_at: string
  messages: number
}

export interface CommandInfo {
  name: string
  description: string
  aliases: string[]
  risk: string
  timeout_secs: number
  params: Record<string, Record<string, unknown>>
}

export interface ComponentInfo {
  name: string
  description: string
  aliases: string[]
  requires: string[]
  commands: CommandInfo[]
}

export interface DocRef {
  path: string
  title: string
}

export interface ServiceInfo {
  name: string
  description: string
  aliases: string[]
  components: ComponentInfo[]
  docs: DocRef[]
}

export interface StackInfo {
  name: string
  version: string
  description: string
  config: unknown
  services: ServiceInfo[]
}

export interface StackDoc {
  path: string
  title: string
  markdown: string
}

export interface Chunk {
  source: string
  title: string
  link: string
  kind: string
  score: number
  text: string
  cluster?: string
  service?: string
  component?: string
  host?: string
  job_id?: string
  time?: string
}

export interface SearchResult {
  hits: Chunk[]
  mode: string
  took_ms: number
}

export interface AuditEvent {
  id: number
  at: string
  actor: string
  action: string
  target: string
  details: unknown
  prev_hash: string
  hash: string
}

export interface Verification {
  ok: boolean
  events: number
  first_broken?: number
  reason?: string
}

export interface UserView {
  id: number
  username: string
  role: Role
  created_at: string
  disabled?: boolean
}

export interface TokenView {
  id: number
  kind: string
  name: string
  principal: string
  role: Role
  created_by: string
  created_at: string
  expires_at?: string | null
  revoked_at?: string | null
}

export interface NewToken extends TokenView {
  token: string
}

export interface EnrollmentView {
  id: number
  hostname?: string | null
  cluster?: string | null
  created_by: string
  expires_at: string
  used_at?: string | null
  used_by?: string | null
  token?: string
}

export interface JobSummaryText {
  job_id: number
  summary: string
  sources: string[]
  model: string
}

/** Events of `GET /api/v1/events`. */
export interface JobEvent {
  type: 'job'
  job_id: number
  state: string
  finished: boolean
}
export interface TaskEvent {
  type: 'task'
  job_id: number
  task_id: number
  host: string
  state: string
  exit_code?: number | null
}
export interface LogEvent {
  type: 'log'
  job_id: number
  task_id: number
  seq: number
  stream: string
  line: string
}
export interface IncidentEvent {
  type: 'incident'
  incident_id: number
  state: string
  host: string
  cluster?: string | null
  signal: string
  summary: string
  peak: number
  opened_at: string
  resolved_at?: string | null
  job_id?: number | null
}
export interface ProposalEvent {
  type: 'proposal'
  job_id: number
  cluster: string
  summary: string
  risk: string
  source: string
  requested_by: string
  expires_at: string
}

/** Event name → payload. */
export interface LiveEvents {
  job: JobEvent
  task: TaskEvent
  log: LogEvent
  incident: IncidentEvent
  proposal: ProposalEvent
}
