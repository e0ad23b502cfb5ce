//! The Moodwing single-page app (yew): a tweet box, the prediction, and "Is this right?".
//! Not built yet: see the feedback-loop issue.
