//! The Moodwing cloud API: durable feedback store and Application Insights traces.
//! Not built yet: see the feedback-loop issue.
