-- PostgreSQL bootstrap for docker-compose (mounted into /docker-entrypoint-initdb.d, run once by
-- the postgres:15 entrypoint as the superuser on an empty data volume).
--
-- Same layout as the native runner (deploy/local/infra.sh): one database per purpose (trading_journal for `make dev`,
-- trading_journal_test for `make test`), one login role per service (password `<role>_local`,
-- local only), and one schema per service owned by its role (DESIGN §2). Nothing is granted across
-- services, and PUBLIC loses its default rights, so a service that touches another's schema fails
-- in the database rather than in review.

\set ON_ERROR_STOP on

CREATE ROLE gateway LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD 'gateway_local';
CREATE ROLE trades  LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD 'trades_local';
CREATE ROLE imports LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD 'imports_local';
CREATE ROLE billing LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD 'billing_local';

-- Each role finds its own tables (and Alembic's version table) first. The gateway's schema is
-- `identity`, not `gateway`, so "$user" alone would not resolve for it.
ALTER ROLE gateway SET search_path = identity;
ALTER ROLE trades  SET search_path = trades;
ALTER ROLE imports SET search_path = imports;
ALTER ROLE billing SET search_path = billing;

CREATE DATABASE trading_journal;
CREATE DATABASE trading_journal_test;

REVOKE ALL ON DATABASE trading_journal      FROM PUBLIC;
REVOKE ALL ON DATABASE trading_journal_test FROM PUBLIC;
-- Only the four service roles may connect; no TEMP (as deploy/local/infra.sh).
GRANT CONNECT ON DATABASE trading_journal      TO gateway, trades, imports, billing;
GRANT CONNECT ON DATABASE trading_journal_test TO gateway, trades, imports, billing;

\connect trading_journal
REVOKE ALL ON SCHEMA public FROM PUBLIC;
CREATE SCHEMA identity AUTHORIZATION gateway;
CREATE SCHEMA trades   AUTHORIZATION trades;
CREATE SCHEMA imports  AUTHORIZATION imports;
CREATE SCHEMA billing  AUTHORIZATION billing;

\connect trading_journal_test
REVOKE ALL ON SCHEMA public FROM PUBLIC;
CREATE SCHEMA identity AUTHORIZATION gateway;
CREATE SCHEMA trades   AUTHORIZATION trades;
CREATE SCHEMA imports  AUTHORIZATION imports;
CREATE SCHEMA billing  AUTHORIZATION billing;
