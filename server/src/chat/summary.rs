//! Job log summaries: the model reads a finished job's task output (quoted, with source ids)
//! through the `log_summary.tera` prompt and writes a short account for operators.
//!
//! The summary is text only: no tools are offered, so nothing can be proposed from it.
use serde::Serialize;
use serde_json::json;
use steward_llm::{ChatRequest, Message};

use super::tools::task_tails;
use super::{Chat, ChatError};

/// Lines of each task's output the model reads.
const TAIL_LINES: usize = 60;

/// A job's summary and what it was written from. Published as `JobLogSummary`: the job
/// list's `JobSummary` is another shape.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = JobLogSummary)]
pub struct JobSummary {
    /// The job.
    pub job_id: i64,
    /// The model's account of what happened.
    pub summary: String,
    /// Source ids of the task outputs it read (`job:J/task:T`).
    pub sources: Vec<String>,
    /// The model that wrote it.
    pub model: String,
}

impl Chat {
    /// Summarises job `job_id` from the tail of each task's output.
    pub async fn summarize_job(&self, job_id: i64) -> Result<JobSummary, ChatError> {
        let job = self.jobs.get(job_id).await?;
        let tails = task_tails(self, &job, TAIL_LINES).await?;
        let prompt = self.prompts.render(
            "log_summary.tera",
            &json!({
                "job": {"id": job.id, "summary": job.summary, "state": job.state, "cluster": job.cluster, "error": job.error},
                "tasks": tails,
            }),
        )?;
        let req = ChatRequest {
            messages: vec![Message::user(prompt)],
            tools: vec![],
            temperature: Some(0.0),
            max_tokens: Some(400),
            response_schema: None,
        };
        let resp = self.model.chat(&req).await?;
        Ok(JobSummary {
            job_id: job.id,
            summary: resp.message.content.trim().to_owned(),
            sources: tails.into_iter().map(|t| t.source).collect(),
            model: self.model.name(),
        })
    }
}
