-- name: QueueEmail :exec
-- Written inside the transaction of the change that causes the message: it exists only if that change commits.
insert into email_outbox (id, user_id, kind, recipient, subject, text_body, html_body, message_id)
values (@id, sqlc.narg(user_id), @kind, @recipient, @subject, @text_body, @html_body, @message_id);

-- name: BuryAbandonedEmails :execrows
-- A claim whose lease ran out on its last allowed attempt (the sender died each time): no further try.
update email_outbox
set status = 'dead', claimed_until = null, last_error = 'the sender stopped before finishing the last attempt'
where status = 'sending' and claimed_until < now() and attempts >= @max_attempts::integer;

-- name: ClaimDueEmails :many
-- Claims due messages for one sender and commits at once: pending ones whose time has come, and ones whose
-- sender's lease ran out (it crashed). SKIP LOCKED: concurrent senders claim different rows, never the same one.
update email_outbox o
set status = 'sending', attempts = o.attempts + 1,
    claimed_until = now() + make_interval(secs => @lease_seconds::double precision)
where o.id in (
    select id from email_outbox
    where ((status = 'pending' and next_attempt_at <= now()) or (status = 'sending' and claimed_until < now()))
      and attempts < @max_attempts::integer
    order by next_attempt_at
    limit @batch_size::integer
    for update skip locked
)
returning o.id, o.kind, o.recipient, o.subject, o.text_body, o.html_body, o.message_id, o.attempts, o.created_at;

-- name: MarkEmailSent :execrows
-- Fenced by the attempt: a sender whose lease ran out and whose row was claimed again does not overwrite the newer
-- claim. The bodies go: they may hold a link that is still valid.
update email_outbox
set status = 'sent', sent_at = now(), claimed_until = null, last_error = null, text_body = '', html_body = ''
where id = @id and attempts = @attempt and status = 'sending';

-- name: MarkEmailFailed :execrows
-- A failed attempt: tried again at @next_attempt_at, or kept as 'dead' (for inspection) after the last attempt.
update email_outbox
set status = case when attempts >= @max_attempts::integer then 'dead' else 'pending' end,
    next_attempt_at = @next_attempt_at, claimed_until = null, last_error = @error
where id = @id and attempts = @attempt and status = 'sending';

-- name: PurgeSentEmails :execrows
-- Retention: sent rows (bodies already emptied) go after a while; dead ones stay until a person handles them.
delete from email_outbox where status = 'sent' and sent_at < @before::timestamptz;

-- name: ReleaseEmailClaim :execrows
-- A claimed message the sender did not get to before its lease would run out: handed back untried.
update email_outbox
set status = 'pending', attempts = attempts - 1, claimed_until = null
where id = @id and attempts = @attempt and status = 'sending';

-- name: ExportEmails :many
-- The messages about the account: what, to whom, when and whether sent; never the bodies (their links).
select kind, recipient, subject, status, created_at, sent_at
from email_outbox where user_id = @user_id order by created_at;
