/**
 * Jobs, as an administrator sees them (the console's Jobs and Overview pages, and the JSON admin
 * API): search stored jobs by time, status and fields, newest first and paged; one job in full
 * with each destination's timeline; its files, streamed; and today's numbers. Reads only: the
 * ingest commit, the sweeper and delivery keep the job index and the timelines they read.
 */
export { findJob, jobDetail, type JobDetail, type TimelineEntry } from './detail';
export { openJobFile, type JobFile } from './download';
export { jobsOverview, LISTED_PER_ITEM, type AttentionItem, type JobsOverview } from './overview';
export { DEFAULT_LIMIT, DELIVERY_STATES, MAX_LIMIT, parseJobQuery, RECORD_STATUSES, type JobQuery, type QueryParams } from './query';
export { MAX_CALLS_PER_PAGE, searchJobs, type JobList, type JobSummary } from './search';
export type { JobsDeps } from './types';
