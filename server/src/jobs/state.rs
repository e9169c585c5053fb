//! The states of jobs, stages and tasks, named as in the API.
use std::fmt;

macro_rules! states {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vdoc])* $variant),+ }

        impl $name {
            /// The upper-case name stored and shown.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Parses a stored name.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

states!(
    /// Where a job is in its lifecycle (DESIGN.md, "Job lifecycle").
    JobState {
        /// Waiting for an operator's decision.
        Proposed => "PROPOSED",
        /// Approved, waiting for the scheduler.
        Approved => "APPROVED",
        /// Taken by the scheduler, no task started yet.
        Pending => "PENDING",
        /// At least one task was dispatched.
        Running => "RUNNING",
        /// Every stage succeeded.
        Successful => "SUCCESSFUL",
        /// A task failed.
        Failed => "FAILED",
        /// An operator cancelled it.
        Canceled => "CANCELED",
        /// An operator rejected the proposal.
        Rejected => "REJECTED",
        /// Nobody decided before its time-to-live ran out.
        Expired => "EXPIRED",
    }
);

impl JobState {
    /// No further transition is possible.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobState::Successful | JobState::Failed | JobState::Canceled | JobState::Rejected | JobState::Expired
        )
    }
}

states!(
    /// Where a stage is.
    StageState {
        /// Waiting for its dependencies.
        Pending => "PENDING",
        /// Its tasks are queued or running.
        Running => "RUNNING",
        /// Every task succeeded.
        Successful => "SUCCESSFUL",
        /// A task failed.
        Failed => "FAILED",
        /// Never ran: the job failed or was cancelled first.
        Canceled => "CANCELED",
    }
);

states!(
    /// Where a task is.
    TaskState {
        /// Not sent to its agent yet.
        Pending => "PENDING",
        /// Sent to its agent (persisted before sending).
        Running => "RUNNING",
        /// Exited 0.
        Successful => "SUCCESSFUL",
        /// Exited non-zero, could not start, or was lost.
        Failed => "FAILED",
        /// Killed after its timeout.
        TimedOut => "TIMED_OUT",
        /// Cancelled before or while running.
        Canceled => "CANCELED",
    }
);

impl TaskState {
    /// The task will not change again.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            TaskState::Successful | TaskState::Failed | TaskState::TimedOut | TaskState::Canceled
        )
    }
}
