-- Email outbox: a message is written in the same transaction as the change that causes it (a rolled-back change
-- sends nothing) and sent by the `send-email` job. Delivery is at least once: a row is claimed with a lease
-- (committed at once), sent holding no connection, then marked sent fenced by the claim's attempt number; a sender
-- that dies between claim and mark leaves a lease that runs out, and the row is sent again with the same Message-ID.

create table email_outbox (
    id uuid primary key default gen_random_uuid(),
    -- The account the message is about, when there is one (a reset request for an unknown address has none).
    user_id uuid references users (id) on delete cascade,
    kind text not null check (length(kind) between 1 and 64),
    recipient text not null check (length(recipient) between 3 and 254),
    subject text not null check (length(subject) between 1 and 200),
    -- Both parts are emptied once the message is sent: links in them (reset, verification) do not linger.
    text_body text not null,
    html_body text not null,
    -- Stable across resends of the same row, so a receiver (or a person) can tell a resend from a second message.
    message_id text not null unique,
    status text not null default 'pending' check (status in ('pending', 'sending', 'sent', 'dead')),
    attempts integer not null default 0,
    next_attempt_at timestamptz not null default now(),
    claimed_until timestamptz,
    last_error text check (length(last_error) <= 500),
    created_at timestamptz not null default now(),
    sent_at timestamptz
);
-- What the sender looks for: due pending rows and sending rows whose lease ran out.
create index email_outbox_due_idx on email_outbox (next_attempt_at) where status in ('pending', 'sending');
create index email_outbox_user_idx on email_outbox (user_id);
