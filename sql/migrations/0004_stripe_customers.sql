-- One Stripe customer per user, created at the first checkout and reused ever after.
create table stripe_customers (
    user_id uuid primary key references users (id) on delete cascade,
    customer_id text not null unique check (length(customer_id) between 1 and 100),
    created_at timestamptz not null default now()
);
