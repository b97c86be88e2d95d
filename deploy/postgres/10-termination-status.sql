-- The status store has its own database and role on the same PostgreSQL as
-- Temporal. The worker creates and migrates its tables on start.
CREATE ROLE termination LOGIN PASSWORD 'termination';
CREATE DATABASE termination_status OWNER termination;
