//! Streams: a task's log (plain text, or followed live as SSE) and the event feed.
use std::collections::HashMap;
use std::convert::Infallible;

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use utoipa::IntoParams;

use super::auth::{while_session_lives, Caller, Role};
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiPath, ApiQuery};
use super::AppState;
use crate::events::Event;
use crate::jobs::{Jobs, TaskState};

/// Options of the log route.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    /// Stream as server-sent events until the task ends.
    #[serde(default)]
    follow: bool,
}

fn sse(kind: &str, data: &impl serde::Serialize) -> SseEvent {
    SseEvent::default()
        .event(kind)
        .data(serde_json::to_string(data).expect("serialises"))
}

/// A task's output: all of it as text, or with `follow=true` as SSE (`log` events, then `end`).
#[utoipa::path(get, path = "/api/v1/jobs/{id}/tasks/{task_id}/logs", tag = "jobs",
    params(("id" = i64, Path, description = "Job id"), ("task_id" = i64, Path, description = "Task id"), LogQuery),
    responses((status = 200, description = "text/plain, or text/event-stream when following", body = String), (status = 404, body = ErrorBody)))]
pub async fn task_logs(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath((job_id, task_id)): ApiPath<(i64, i64)>,
    ApiQuery(q): ApiQuery<LogQuery>,
) -> Result<Response, ApiError> {
    s.jobs.task(job_id, task_id).await?;
    if !q.follow {
        let text = s.jobs.log_text(task_id).await?;
        return Ok(([("content-type", "text/plain; charset=utf-8")], text).into_response());
    }
    let stream = while_session_lives(s.auth.clone(), caller, follow_task(s.jobs.clone(), job_id, task_id));
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()).into_response())
}

fn follow_task(jobs: Jobs, job_id: i64, task_id: i64) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    async_stream::stream! {
        // Subscribe before reading what is stored, so nothing falls between the two.
        let mut rx = jobs.bus().subscribe();
        let mut last = 0i64;
        'outer: loop {
            match jobs.logs(task_id, last, 10_000).await {
                Ok(page) if !page.is_empty() => {
                    for l in page { last = l.seq; yield Ok(sse("log", &l)); }
                    continue;
                }
                Ok(_) => {}
                Err(e) => { yield Ok(sse("error", &serde_json::json!({"message": e.to_string()}))); return; }
            }
            if let Ok(t) = jobs.task(job_id, task_id).await {
                if TaskState::parse(&t.state).is_some_and(|s| s.is_final()) {
                    yield Ok(sse("end", &serde_json::json!({"state": t.state, "exit_code": t.exit_code, "error": t.error})));
                    return;
                }
            }
            loop {
                match rx.recv().await {
                    Ok(chunk @ Event::Output { task_id: t, .. }) if t == task_id => {
                        for l in chunk.lines_after(last) {
                            let Event::Log { seq, stream, line, .. } = l else { continue };
                            last = seq;
                            yield Ok(sse("log", &serde_json::json!({"seq": seq, "stream": stream, "line": line})));
                        }
                    }
                    Ok(Event::Task { task_id: t, state, .. }) if t == task_id && TaskState::parse(&state).is_some_and(|s| s.is_final()) => {
                        // Logs are committed with the final state: read any we skipped, then end.
                        continue 'outer;
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(_)) => continue 'outer,
                    Err(RecvError::Closed) => return,
                }
            }
        }
    }
}

/// Log lines of one task the event feed replays at most; a `truncated` event says where the
/// replay starts, and the task's log route has them all.
const MAX_REPLAY: u64 = 5_000;

/// Options of the event feed.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Only this job's events: first its stored logs, then live events until it finishes.
    job: Option<i64>,
}

/// Server-sent events: `job`, `task`, `log` (only for operators and above, who may read
/// logs) and `incident`.
#[utoipa::path(get, path = "/api/v1/events", tag = "events", params(EventsQuery),
    responses((status = 200, description = "text/event-stream of job, task, log and incident events", body = Event), (status = 404, body = ErrorBody)))]
pub async fn events(
    State(s): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> Result<Response, ApiError> {
    let jobs = s.jobs.clone();
    if let Some(id) = q.job {
        jobs.get(id).await?;
    }
    let logs = caller.role >= Role::Operator;
    let stream = async_stream::stream! {
        let mut rx = jobs.bus().subscribe();
        let mut last: HashMap<i64, i64> = HashMap::new();
        if let Some(job_id) = q.job {
            // Replay what is stored, then go live; dedupe by seq per task.
            let Ok(job) = jobs.get(job_id).await else { return };
            // A live job's feed starts with its state; a finished job's ends with it, as a
            // live feed ends with the job's end.
            let state = Event::Job { job_id, state: job.job.state.clone(), finished: job.job.finished_at.is_some() };
            if job.job.finished_at.is_none() {
                yield Ok::<_, Infallible>(sse("job", &state));
            }
            for st in &job.stages {
                for t in &st.tasks {
                    yield Ok(sse("task", &Event::Task { job_id, task_id: t.id, host: t.host.clone(), state: t.state.clone(), exit_code: t.exit_code }));
                    // At most the last MAX_REPLAY lines: a huge log would otherwise hold the
                    // stream (and the server's memory) for as long as it takes to send.
                    let mut tail = jobs.log_tail(t.id, MAX_REPLAY + 1).await.unwrap_or_default();
                    let after = tail.last().map_or(0, |l| l.seq);
                    if logs && tail.len() as u64 > MAX_REPLAY {
                        tail.remove(0);
                        let log = format!("/api/v1/jobs/{job_id}/tasks/{}/logs", t.id);
                        yield Ok(sse("truncated", &serde_json::json!({"job_id": job_id, "task_id": t.id, "from_seq": tail[0].seq, "log": log})));
                    }
                    for l in tail.into_iter().filter(|_| logs) {
                        yield Ok(sse("log", &Event::Log { job_id, task_id: t.id, seq: l.seq, stream: l.stream, line: l.line }));
                    }
                    last.insert(t.id, after);
                }
            }
            if job.job.finished_at.is_some() {
                yield Ok(sse("job", &state));
                return;
            }
        }
        loop {
            match rx.recv().await {
                Ok(e) => {
                    if q.job.is_some_and(|j| Some(j) != e.job_id()) { continue; }
                    if let Event::Output { task_id, .. } = &e {
                        if !logs { continue; }
                        let l = last.entry(*task_id).or_insert(0);
                        for line in e.lines_after(*l) {
                            let Event::Log { seq, .. } = line else { continue };
                            *l = seq;
                            yield Ok(sse("log", &line));
                        }
                        continue;
                    }
                    let end = matches!(e, Event::Job { finished: true, .. }) && q.job.is_some();
                    yield Ok(sse(e.kind(), &e));
                    if end { return; }
                }
                Err(RecvError::Lagged(n)) => {
                    yield Ok(sse("lagged", &serde_json::json!({"missed": n})));
                }
                Err(RecvError::Closed) => return,
            }
        }
    };
    let stream = while_session_lives(s.auth.clone(), caller, stream);
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()).into_response())
}
