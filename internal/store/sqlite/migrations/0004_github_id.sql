-- Users of the GitHub token exchange are keyed by GitHub's numeric user id:
-- a login can be renamed and then taken by another account. An admin allows
-- a login; the first exchange by it binds the user to that account's id.
ALTER TABLE users ADD COLUMN github_id INTEGER;
CREATE UNIQUE INDEX users_github_id ON users(github_id) WHERE github_id IS NOT NULL;
