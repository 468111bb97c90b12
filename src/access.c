/*
 * src/access.c
 *
 * Who may do what to which object.  Every policy, experiment, Q-learning
 * agent and tuning scope has an owner (bandit.object); owners grant use,
 * read or manage on it to other roles (bandit.permission).  The functions
 * that touch an object are SECURITY DEFINER and check the caller here
 * first, so the tables themselves need grant nothing but SELECT, filtered
 * by row-level security (bandit.readable).
 */
#include "bandit.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

static SPIPlanPtr plan_privilege = NULL;
static SPIPlanPtr plan_claim = NULL;
static SPIPlanPtr plan_grant = NULL;
static SPIPlanPtr plan_revoke = NULL;
static SPIPlanPtr plan_owner = NULL;
static SPIPlanPtr plan_set_owner = NULL;

/*
 * The role privileges are checked for: the one the session runs as (SET ROLE
 * counts).  Inside our SECURITY DEFINER functions current_user is the
 * extension's owner, so it cannot be the caller.  Index expressions,
 * materialized views and ANALYZE run a table owner's code as a
 * security-restricted operation, which leaves the session's role as the
 * outer user (autovacuum's is a superuser): that code did not come from the
 * session, so nothing in it is checked as the session's role.
 */
Oid
BanditCaller(void)
{
	if (InSecurityRestrictedOperation())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("bandit cannot check privileges inside a security-restricted operation"),
				 errdetail("Index expressions, materialized views and maintenance commands run a table owner's code on behalf of another role."),
				 errhint("Call bandit's functions, and read its tables, outside index expressions and materialized views.")));
	return GetOuterUserId();
}

/* How an object is named in messages: policy "p", tuning scope "s", the priors. */
static char *
ObjectName(const char *kind, const char *name)
{
	if (strcmp(kind, "priors") == 0)
		return "the priors";
	return psprintf("%s \"%s\"", strcmp(kind, "scope") == 0 ? "tuning scope" : kind, name);
}

static void
CheckKind(const char *kind)
{
	if (strcmp(kind, "policy") != 0 && strcmp(kind, "experiment") != 0 &&
		strcmp(kind, "agent") != 0 && strcmp(kind, "scope") != 0 && strcmp(kind, "priors") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("kind must be policy, experiment, agent, scope or priors, got \"%s\"", kind)));
}

static void
CheckPrivilegeName(const char *privilege)
{
	if (strcmp(privilege, "use") != 0 && strcmp(privilege, "read") != 0 &&
		strcmp(privilege, "manage") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("privilege must be use, read or manage, got \"%s\"", privilege)));
}

/*
 * A role that exists: regrole reads '-' as 0 and any number as an OID
 * without looking it up, and a grant to a role created later is a surprise.
 */
static void
CheckRole(Oid role, const char *argument)
{
	if (!OidIsValid(role))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a role, got '-'", argument)));
	if (!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(role)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("%s must be an existing role, got OID %u", argument, role)));
}

/*
 * Inserts the object owned by the caller unless it exists (agents are
 * created by their first use, scopes by their first definition).
 */
static void
ClaimObject(const char *kind, const char *name)
{
	Datum		args[3] = {CStringGetTextDatum(kind), CStringGetTextDatum(name),
	ObjectIdGetDatum(BanditCaller())};

	if (plan_claim == NULL)
	{
		Oid			types[3] = {TEXTOID, TEXTOID, OIDOID};

		plan_claim = PrepareSafely(
			"INSERT INTO bandit.object (kind, name, owner) VALUES ($1, $2, $3::pg_catalog.regrole)"
			" ON CONFLICT DO NOTHING", 3, types);
	}
	if (SPI_execute_plan(plan_claim, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "creating %s \"%s\" failed", kind, name);
}

/*
 * Whether the owner (and its members) or a grant gives the caller the
 * privilege; 42501 if not.  Superusers hold every privilege (as
 * has_privs_of_role says of them).
 */
static void
CheckGranted(const char *kind, const char *name, const char *privilege, Oid owner, bool granted)
{
	Oid			caller = BanditCaller();
	char	   *role;

	if (granted || has_privs_of_role(caller, owner))
		return;
	role = GetUserNameFromId(caller, false);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for %s: role \"%s\" lacks %s", ObjectName(kind, name), role, privilege),
			 errhint("A role with manage on it can run: SELECT bandit.grant(%s, %s, %s, '%s');",
					 quote_literal_cstr(kind), quote_literal_cstr(name),
					 quote_literal_cstr(quote_identifier(role)), privilege)));
}

/*
 * Checks that the caller holds privilege (use, read, manage) on the object,
 * inside SPI: 42501 if not.  Returns false if the object does not exist,
 * for the caller to say so in its own words; with create, a missing object
 * is created owned by the caller first.
 */
bool
CheckPrivilege(const char *kind, const char *name, const char *privilege, bool create)
{
	Datum		args[3] = {CStringGetTextDatum(kind), CStringGetTextDatum(name),
	CStringGetTextDatum(privilege)};
	bool		owner_isnull,
				isnull;
	Datum		owner;

	if (plan_privilege == NULL)
	{
		Oid			types[3] = {TEXTOID, TEXTOID, TEXTOID};

		plan_privilege = PrepareSafely(
			"SELECT (SELECT o.owner::pg_catalog.oid FROM bandit.object o WHERE o.kind = $1 AND o.name = $2),"
			" EXISTS (SELECT FROM bandit.permission g WHERE g.kind = $1 AND g.name = $2"
			"  AND g.privilege IN ($3, 'manage') AND bandit.holds(g.grantee))", 3, types);
	}

	/*
	 * The latest snapshot, as PostgreSQL reads its own catalogs: a revoke
	 * counts from the next statement even in a REPEATABLE READ transaction.
	 */
	if (SPI_execute_snapshot(plan_privilege, args, NULL, GetLatestSnapshot(), InvalidSnapshot,
							 false, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "reading the privileges of %s \"%s\" failed", kind, name);
	owner = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &owner_isnull);
	if (owner_isnull)
	{
		if (!create)
			return false;
		ClaimObject(kind, name);
		return CheckPrivilege(kind, name, privilege, false);
	}
	CheckGranted(kind, name, privilege, DatumGetObjectId(owner),
				 DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)));
	return true;
}

static void
UnknownObject(const char *kind, const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 strcmp(kind, "priors") == 0 ?
			 errmsg("priors \"%s\" do not exist: the priors are one object, named '*'", name) :
			 errmsg("%s does not exist", ObjectName(kind, name))));
}

/*
 * CheckPrivilege where an unknown object is 42704, except an agent: one not
 * created yet has nothing to protect (bandit.q_select reads no Q-values).
 */
void
RequirePrivilege(const char *kind, const char *name, const char *privilege, bool create)
{
	if (!CheckPrivilege(kind, name, privilege, create) && strcmp(kind, "agent") != 0)
		UnknownObject(kind, name);
}

PG_FUNCTION_INFO_V1(bandit_require);

/*
 * require(kind, name, privilege, create): RequirePrivilege for the SQL
 * functions; STRICT, so a NULL name is left to the caller's own 22004.
 */
Datum
bandit_require(PG_FUNCTION_ARGS)
{
	char	   *kind = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *privilege = text_to_cstring(PG_GETARG_TEXT_PP(2));
	bool		create = PG_GETARG_BOOL(3);
	int			nest;

	CheckKind(kind);
	CheckPrivilegeName(privilege);
	/* policies and experiments come only from their create_ functions */
	if (create && strcmp(kind, "agent") != 0 && strcmp(kind, "scope") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("only agents and scopes are created on first use, not a %s", kind)));
	nest = SpiBegin();
	RequirePrivilege(kind, name, privilege, create);
	SpiEnd(nest);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(bandit_caller);

/* caller(): the role bandit checks privileges for. */
Datum
bandit_caller(PG_FUNCTION_ARGS)
{
	PG_RETURN_OID(BanditCaller());
}

/*
 * grant and revoke: manage on the object, then one statement; granting twice,
 * or revoking what was not granted, changes nothing.
 */
static void
ChangeGrant(FunctionCallInfo fcinfo, bool grant)
{
	char	   *kind = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	Oid			grantee = PG_GETARG_OID(2);
	char	   *privilege = text_to_cstring(PG_GETARG_TEXT_PP(3));
	Datum		args[5];
	int			nest;

	CheckKind(kind);
	CheckPrivilegeName(privilege);
	CheckRole(grantee, "grantee");
	nest = SpiBegin();
	/* an agent not created yet has no grants to change either */
	if (!CheckPrivilege(kind, name, "manage", false))
		UnknownObject(kind, name);
	if (plan_grant == NULL)
	{
		Oid			types[5] = {TEXTOID, TEXTOID, OIDOID, TEXTOID, OIDOID};

		plan_grant = PrepareSafely(
			"INSERT INTO bandit.permission (kind, name, grantee, privilege, granted_by)"
			" VALUES ($1, $2, $3::pg_catalog.regrole, $4, $5::pg_catalog.regrole) ON CONFLICT DO NOTHING",
			5, types);
		plan_revoke = PrepareSafely(
			"DELETE FROM bandit.permission WHERE kind = $1 AND name = $2"
			" AND grantee = $3::pg_catalog.regrole AND privilege = $4", 4, types);
	}
	args[0] = CStringGetTextDatum(kind);
	args[1] = CStringGetTextDatum(name);
	args[2] = ObjectIdGetDatum(grantee);
	args[3] = CStringGetTextDatum(privilege);
	args[4] = ObjectIdGetDatum(BanditCaller());
	if (SPI_execute_plan(grant ? plan_grant : plan_revoke, args, NULL, false, 0) !=
		(grant ? SPI_OK_INSERT : SPI_OK_DELETE))
		elog(ERROR, "changing %s on %s \"%s\" failed", privilege, kind, name);
	SpiEnd(nest);
}

PG_FUNCTION_INFO_V1(bandit_grant);

/* grant(kind, name, grantee, privilege) */
Datum
bandit_grant(PG_FUNCTION_ARGS)
{
	ChangeGrant(fcinfo, true);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(bandit_revoke);

/* revoke(kind, name, grantee, privilege) */
Datum
bandit_revoke(PG_FUNCTION_ARGS)
{
	ChangeGrant(fcinfo, false);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(bandit_holds);

/* holds(role): whether the caller has role's privileges (false for a dropped role). */
Datum
bandit_holds(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(has_privs_of_role(BanditCaller(), PG_GETARG_OID(0)));
}

PG_FUNCTION_INFO_V1(bandit_set_owner);

/*
 * set_owner(kind, name, new_owner): as ALTER ... OWNER TO, for the owner (or
 * a member of it) who may act as the new owner, or a superuser.  Grants
 * stay; the new owner holds every privilege.
 */
Datum
bandit_set_owner(PG_FUNCTION_ARGS)
{
	char	   *kind = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	Oid			new_owner = PG_GETARG_OID(2);
	Oid			caller = BanditCaller();
	Datum		args[3] = {CStringGetTextDatum(kind), CStringGetTextDatum(name), ObjectIdGetDatum(new_owner)};
	bool		isnull;
	int			nest;

	CheckKind(kind);
	CheckRole(new_owner, "new_owner");
	/* CREATE EXTENSION makes the priors' row, so pg_dump cannot carry another owner */
	if (strcmp(kind, "priors") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the priors always belong to the extension's owner"),
				 errhint("Grant manage on them instead: SELECT bandit.grant('priors', '*', role, 'manage');")));
	nest = SpiBegin();
	if (plan_owner == NULL)
	{
		Oid			types[3] = {TEXTOID, TEXTOID, OIDOID};

		plan_owner = PrepareSafely(
			"SELECT owner::pg_catalog.oid FROM bandit.object WHERE kind = $1 AND name = $2 FOR UPDATE",
			2, types);
		plan_set_owner = PrepareSafely(
			"UPDATE bandit.object SET owner = $3::pg_catalog.regrole WHERE kind = $1 AND name = $2",
			3, types);
	}
	if (SPI_execute_plan(plan_owner, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "reading the owner of %s \"%s\" failed", kind, name);
	if (SPI_processed == 0)
		UnknownObject(kind, name);
	if (!superuser_arg(caller))
	{
		if (!has_privs_of_role(caller, DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
																	   SPI_tuptable->tupdesc, 1, &isnull))))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied for %s: only its owner can change its owner", ObjectName(kind, name))));
		if (!has_privs_of_role(caller, new_owner))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied for %s: role \"%s\" cannot act as role \"%s\"",
							ObjectName(kind, name), GetUserNameFromId(caller, false),
							GetUserNameFromId(new_owner, false)),
					 errhint("The new owner must be a role the caller is a member of, as for ALTER ... OWNER TO.")));
	}
	if (SPI_execute_plan(plan_set_owner, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "changing the owner of %s \"%s\" failed", kind, name);
	SpiEnd(nest);
	PG_RETURN_VOID();
}
