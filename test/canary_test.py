#!/usr/bin/env python3
"""Canaries against independent models (issue 13).

- Traffic share: over 2000 choose calls the candidate serves share of them, by
  a chi-square goodness-of-fit test (scipy), at several shares; the same test
  rejects a share half as large again, so it has the power to fail.
- Gates on simulated policies of known value: Bernoulli arms a, b, c with
  rates 0.3, 0.5, 0.7; epsilon-greedy policies (epsilon 0.1) trained up front
  to favour one arm have value 0.9 rate(favourite) + 0.1 mean(rates).  A
  candidate truly better gets promote, truly worse rollback, one with too
  little data continue.  canary_status's evidence is checked against scipy:
  Welch's p-value (ttest_ind), P(candidate better) under the Beta posteriors
  (numerical integration) or the normal ones, and IPS / SNIPS recomputed here
  from the production log with the candidate's epsilon-greedy propensities.
- Promote: the policy's arms equal the candidate's and its versions show the
  lineage.
- Privilege: a role with use on the policy only chooses through the canary
  and rewards the candidate's decisions, and nothing of the candidate directly.
"""
import math
import os
import random
import sys

import numpy as np
from scipy import integrate, stats

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import close, fresh_database, ok, query_helpers, report  # noqa: E402

DB = 'bandit_canary_test'
RATES = {'a': 0.3, 'b': 0.5, 'c': 0.7}
APP = 'bandit_canary_app'


def value(favourite, epsilon=0.1):
    return (1 - epsilon) * RATES[favourite] + epsilon * sum(RATES.values()) / len(RATES)


def main():
    admin, conn = fresh_database(DB)
    cur = conn.cursor()
    q, q1, sqlstate = query_helpers(cur)
    rng = random.Random(13)

    def favouring(name, favourite, algorithm='epsilon_greedy', params='{"epsilon": 0.1}'):
        q("SELECT bandit.create_policy(%s, %s, '{a,b,c}', %s)", name, algorithm, params)
        # 200 rewards per arm: 1 on the favourite, 0 elsewhere, so that a few
        # hundred live rewards do not change which arm is greedy
        q("SELECT count(bandit.reward(%s, arm, (arm = %s)::int)) FROM unnest('{a,b,c}'::text[]) arm, "
          "generate_series(1, 200)", name, favourite)

    def chosen(policy, n, context=None):
        """The decision ids of n chooses of policy (a statement does not see the rows it inserts)."""
        return [r[0] for r in q("SELECT c.decision_id FROM generate_series(1, %s) i, "
                                "LATERAL bandit.choose(%s || left(i::text, 0), %s) c", n, policy, context)]

    def serve(policy, n, reward=lambda arm: float(rng.random() < RATES[arm])):
        """n chooses of policy in rounds of 200, each round rewarded; the decisions (id, policy, arm)."""
        out = []
        for start in range(0, n, 200):
            ids = chosen(policy, min(200, n - start))
            rows = q('SELECT id, policy, arm FROM bandit.decision WHERE id = ANY (%s) ORDER BY id', ids)
            q('SELECT bandit.reward(%s::bigint[], %s::float8[])', [r[0] for r in rows], [reward(r[2]) for r in rows])
            out += rows
        return out

    # --- traffic share: chi-square goodness of fit -------------------------
    q("SELECT bandit.create_policy('share_p', 'thompson', '{a,b,c}')")
    q("SELECT bandit.create_policy('share_c', 'ucb1', '{a,b,c}')")
    for share in (0.05, 0.2, 0.5):
        q("SELECT bandit.start_canary('share_p', 'share_c', %s)", share)
        q('SELECT bandit.set_seed(%s)', int(share * 1000))
        n = 2000
        rows = q('SELECT policy, canary_of FROM bandit.decision WHERE id = ANY (%s)', chosen('share_p', n))
        cand = sum(1 for r in rows if r[0] == 'share_c')
        ok('share %s: every candidate decision names the canary' % share,
           all((r[0] == 'share_c') == (r[1] == 'share_p') for r in rows))
        p = stats.chisquare([cand, n - cand], [share * n, (1 - share) * n]).pvalue
        print('share %.2f: %d of %d from the candidate (%.4f), chi-square p = %.3f' % (share, cand, n, cand / n, p))
        ok('share %s: chi-square goodness of fit p > 0.001' % share, p > 0.001, 'p = %g, %d of %d' % (p, cand, n))
        off = share * 1.5
        p_off = stats.chisquare([cand, n - cand], [off * n, (1 - off) * n]).pvalue
        ok('share %s: the same test rejects share %s' % (share, off), p_off < 0.001, 'p = %g' % p_off)
        q("SELECT bandit.stop_canary('share_p')")

    # --- gates on policies of known value ----------------------------------
    favouring('prod', 'b')                      # value 0.50
    favouring('good', 'c')                      # value 0.68
    favouring('bad', 'a')                       # value 0.32
    favouring('same', 'b')                      # value 0.50
    print('values: production %.2f, good %.2f, bad %.2f' % (value('b'), value('c'), value('a')))

    def status(policy):
        cur.execute('SELECT * FROM bandit.canary_status(%s)', (policy,))
        return dict(zip([d[0] for d in cur.description], cur.fetchone()))

    def check_evidence(label, st, log):
        """canary_status's numbers against scipy and a recomputation here."""
        prod = np.array([r[3] for r in log if r[1] == 'prod'])
        cand = np.array([r[3] for r in log if r[1] != 'prod'])
        ok('%s: counts' % label, st['production_n'] == len(prod) and st['candidate_n'] == len(cand),
           '%s %s vs %d %d' % (st['production_n'], st['candidate_n'], len(prod), len(cand)))
        close('%s: candidate mean' % label, st['candidate_mean'], cand.mean(), 1e-12)
        close('%s: Welch p-value = scipy ttest_ind' % label, st['p_value'],
              stats.ttest_ind(cand, prod, equal_var=False).pvalue, 1e-6, 1e-300)
        ok('%s: method beta for rewards in [0, 1]' % label, st['method'] == 'beta', st['method'])
        # P(theta_c > theta_p) under Beta(1 + s, 1 + n - s): integrate pdf_c * cdf_p
        bc = stats.beta(1 + cand.sum(), 1 + len(cand) - cand.sum())
        bp = stats.beta(1 + prod.sum(), 1 + len(prod) - prod.sum())
        lo, hi = min(bc.ppf(1e-12), bp.ppf(1e-12)), max(bc.ppf(1 - 1e-12), bp.ppf(1 - 1e-12))
        want = integrate.quad(lambda x: bc.pdf(x) * bp.cdf(x), lo, hi, epsabs=1e-12, limit=200)[0]
        close('%s: P(candidate better) = Beta integral' % label, st['prob_candidate_better'], want, 1e-6, 1e-9)
        return prod, cand

    def expected_ope(label, st, candidate, log):
        """IPS and SNIPS of candidate over production's log, propensities from its arms here."""
        arms = dict(q("SELECT arm, CASE WHEN weight > 0 THEN mean_reward ELSE 0 END FROM bandit.arm "
                      "WHERE policy = %s AND NOT retired", candidate))
        decisions = q1("SELECT decisions FROM bandit.policy WHERE name = %s", candidate)
        eps = max(0.0, 0.1 * 1.0 ** decisions)
        top = max(arms.values())
        ties = sum(1 for v in arms.values() if v == top)
        target = {a: eps / len(arms) + ((1 - eps) / ties if v == top else 0) for a, v in arms.items()}
        rows = [(r[3], target[r[2]], r[4]) for r in log if r[1] == 'prod']
        w = np.array([t / p for _, t, p in rows])
        r = np.array([x for x, _, _ in rows])
        close('%s: ope_ips' % label, st['ope_ips'], float(np.mean(w * r)), 1e-9)
        close('%s: ope_snips' % label, st['ope_snips'], float(np.sum(w * r) / np.sum(w)), 1e-9)
        close('%s: ope_ess' % label, st['ope_ess'], float(np.sum(w) ** 2 / np.sum(w ** 2)), 1e-9)
        ok('%s: ope_n' % label, st['ope_n'] == len(rows))

    def run_canary(candidate, n, share=0.3, gates='{}'):
        q("SELECT bandit.start_canary('prod', %s, %s, %s)", candidate, share, gates)
        log = serve('prod', n)
        ids = [r[0] for r in log]
        full = q('SELECT id, policy, arm, reward, propensity FROM bandit.decision WHERE id = ANY (%s) ORDER BY id', ids)
        return status('prod'), full

    q('SELECT bandit.set_seed(101)')
    st, log = run_canary('good', 2000)
    print('good: production %d mean %.3f, candidate %d mean %.3f, P(better) %.4f, p %.3g, ope snips %.3f -> %s'
          % (st['production_n'], st['production_mean'], st['candidate_n'], st['candidate_mean'],
             st['prob_candidate_better'], st['p_value'], st['ope_snips'], st['recommendation']))
    ok('a candidate truly better: promote', st['recommendation'] == 'promote', st['reason'])
    prod, cand = check_evidence('good', st, log)
    expected_ope('good', st, 'good', log)
    # the known values, within 4 standard errors
    ok('good: candidate mean near its value 0.68',
       abs(cand.mean() - value('c')) < 4 * math.sqrt(value('c') * (1 - value('c')) / len(cand)), cand.mean())
    ok('good: production mean near its value 0.50',
       abs(prod.mean() - value('b')) < 4 * math.sqrt(0.25 / len(prod)), prod.mean())
    ok('good: OPE of the candidate on the production log near 0.68',
       abs(st['ope_snips'] - value('c')) < 4 * st['ope_std_error'], '%s +- %s' % (st['ope_snips'], st['ope_std_error']))

    # promote: the candidate's state and configuration become production's, with lineage
    good_arms = q("SELECT arm, alpha, beta, pulls, weight, mean_reward, m2, cost, latency_ms, retired "
                  "FROM bandit.arm WHERE policy = 'good' ORDER BY arm")
    old_versions = q1("SELECT count(*) FROM bandit.snapshot WHERE policy = 'prod'")
    q("SELECT bandit.promote_canary('prod')")
    prod_arms = q("SELECT arm, alpha, beta, pulls, weight, mean_reward, m2, cost, latency_ms, retired "
                  "FROM bandit.arm WHERE policy = 'prod' ORDER BY arm")
    ok('promote: the arms equal the candidate\'s, exactly', prod_arms == good_arms, '%s\n%s' % (prod_arms, good_arms))
    versions = q("SELECT snapshot_id, parent, status, label FROM bandit.policy_versions('prod')")
    ok('promote: two new versions', len(versions) == old_versions + 2, versions)
    before, promoted = versions[-2], versions[-1]
    ok('promote: the state before is archived', before[2] == 'archived', before)
    parent_policy = q1('SELECT policy FROM bandit.snapshot WHERE id = %s', promoted[1])
    ok('promote: the new version is active and descends from a snapshot of the candidate',
       promoted[2] == 'active' and parent_policy == 'good', '%s, parent of %s' % (promoted, parent_policy))
    ok('promote: no canary left', q1('SELECT count(*) FROM bandit.canary') == 0)

    # production is 'good' now (favours c); undo to the old production for the next canaries
    q('SELECT bandit.restore(%s)', before[0])
    ok('restore: the old version is active again',
       q1("SELECT status FROM bandit.policy_versions('prod') WHERE snapshot_id = %s", before[0]) == 'active')

    q('SELECT bandit.set_seed(202)')
    st, log = run_canary('bad', 2000)
    print('bad: production %d mean %.3f, candidate %d mean %.3f, P(better) %.3g, p %.3g -> %s'
          % (st['production_n'], st['production_mean'], st['candidate_n'], st['candidate_mean'],
             st['prob_candidate_better'], st['p_value'], st['recommendation']))
    ok('a candidate truly worse: rollback', st['recommendation'] == 'rollback', st['reason'])
    check_evidence('bad', st, log)
    expected_ope('bad', st, 'bad', log)
    # ... unless it may regress that far
    q("SELECT bandit.stop_canary('prod')")
    ok('stop: no canary left', q1('SELECT count(*) FROM bandit.canary') == 0)

    q('SELECT bandit.set_seed(303)')
    st, log = run_canary('bad', 2000, gates='{"max_regression": 0.5}')
    ok('a worse candidate within max_regression 0.5: not rollback', st['recommendation'] == 'continue', st['reason'])
    q("SELECT bandit.stop_canary('prod')")
    q('SELECT bandit.set_seed(404)')
    st, log = run_canary('good', 2000, gates='{"min_value": 0.9}')
    ok('a better candidate under min_value 0.9: rollback', st['recommendation'] == 'rollback', st['reason'])
    q("SELECT bandit.stop_canary('prod')")
    q('SELECT bandit.set_seed(505)')
    st, log = run_canary('good', 2000, gates='{"max_std_error": 0.001}')
    ok('a better candidate above max_std_error: continue', st['recommendation'] == 'continue', st['reason'])
    q("SELECT bandit.stop_canary('prod')")

    q('SELECT bandit.set_seed(606)')
    st, log = run_canary('good', 100)
    ok('too little data (about 30 candidate rewards, min_decisions 100): continue',
       st['recommendation'] == 'continue' and st['reason'].startswith('too little data'), st['reason'])
    q("SELECT bandit.stop_canary('prod')")
    q('SELECT bandit.set_seed(707)')
    st, log = run_canary('same', 2000)
    print('same: P(better) %.3f -> %s' % (st['prob_candidate_better'], st['recommendation']))
    ok('a candidate of the same value: continue', st['recommendation'] == 'continue', st['reason'])
    q("SELECT bandit.stop_canary('prod')")

    # rewards outside [0, 1]: Welch and normal posteriors
    q("SELECT bandit.create_policy('gprod', 'epsilon_greedy', '{a,b,c}', '{\"epsilon\": 0.1}')")
    q("SELECT bandit.create_policy('gcand', 'softmax', '{a,b,c}', '{\"temperature\": 1}')")
    q("SELECT bandit.start_canary('gprod', 'gcand', 0.4, '{\"min_decisions\": 50}')")
    q('SELECT bandit.set_seed(808)')
    glog = serve('gprod', 600, reward=lambda arm: rng.gauss(10 * RATES[arm], 3))
    st = status('gprod')
    rows = q('SELECT policy, reward, arm, propensity FROM bandit.decision WHERE id = ANY (%s)', [r[0] for r in glog])
    prod = np.array([r[1] for r in rows if r[0] == 'gprod'])
    cand = np.array([r[1] for r in rows if r[0] == 'gcand'])
    ok('welch: method', st['method'] == 'welch', st['method'])
    close('welch: p-value = scipy ttest_ind', st['p_value'], stats.ttest_ind(cand, prod, equal_var=False).pvalue, 1e-6, 1e-300)
    se_c, se_p = cand.std(ddof=1) / math.sqrt(len(cand)), prod.std(ddof=1) / math.sqrt(len(prod))
    close('welch: P(candidate better) = normal posteriors', st['prob_candidate_better'],
          stats.norm.cdf((cand.mean() - prod.mean()) / math.hypot(se_c, se_p)), 1e-6, 1e-9)
    close('welch: std_error', st['std_error'], math.hypot(se_c, se_p), 1e-9)
    # softmax propensities: exp(mean / T) normalized, from the candidate's arms
    arms = dict(q("SELECT arm, CASE WHEN weight > 0 THEN mean_reward ELSE 0 END FROM bandit.arm WHERE policy = 'gcand'"))
    top = max(arms.values())
    wts = {a: math.exp(v - top) for a, v in arms.items()}
    target = {a: wt / sum(wts.values()) for a, wt in wts.items()}
    w = np.array([target[r[2]] / r[3] for r in rows if r[0] == 'gprod'])
    close('welch: ope_snips with softmax propensities', st['ope_snips'], float(np.sum(w * prod) / np.sum(w)), 1e-9)
    q("SELECT bandit.stop_canary('gprod')")

    # a LinUCB candidate: no context-free propensity, no off-policy estimate
    q("SELECT bandit.create_policy('lcand', 'linucb', '{a,b,c}', '{\"dim\": 2}')")
    q("SELECT bandit.start_canary('gprod', 'lcand', 0.5, '{\"min_decisions\": 2}')")
    chosen('gprod', 20, '{"features": [1, 0]}')
    q("SELECT count(bandit.reward(id, 1)) FROM bandit.decision WHERE reward IS NULL AND policy IN ('gprod', 'lcand')")
    st = status('gprod')
    ok('linucb candidate: no off-policy estimate', st['ope_n'] is None and st['ope_snips'] is None, st)
    q("SELECT bandit.stop_canary('gprod')")

    # --- privilege: the application holds use on the policy only -----------
    admin.cursor().execute('DROP ROLE IF EXISTS ' + APP)
    admin.cursor().execute('CREATE ROLE ' + APP)
    q("SELECT bandit.grant('policy', 'prod', %s, 'use')", APP)
    q("SELECT bandit.start_canary('prod', 'good', 0.5)")
    direct = q1("SELECT decision_id FROM bandit.choose('good')")
    cur.execute('SET ROLE ' + APP)
    q('SELECT bandit.set_seed(909)')
    through = chosen('prod', 60)
    cur.execute('RESET ROLE')
    policies = dict(q('SELECT id, policy FROM bandit.decision WHERE id = ANY (%s)', through))
    cand_ids = [i for i in through if policies[i] == 'good']
    ok('app: chooses through the canary', 10 < len(cand_ids) < 50, len(cand_ids))
    cur.execute('SET ROLE ' + APP)
    codes = [sqlstate('SELECT bandit.reward(%s::bigint, 1)', i) for i in through]
    ok('app: rewards every decision, the candidate\'s included', all(c is None for c in codes), codes)
    ok('app: a second reward of a candidate\'s decision is 23505', sqlstate('SELECT bandit.reward(%s::bigint[], %s::float8[])',
                                                               cand_ids[:1], [1.0]) == '23505')
    ok('app: may not choose from the candidate directly', sqlstate("SELECT * FROM bandit.choose('good')") == '42501')
    ok('app: may not reward a decision the candidate made outside the canary',
       sqlstate('SELECT bandit.reward(%s::bigint, 1)', direct) == '42501')
    ok('app: may not reward the candidate\'s arm', sqlstate("SELECT bandit.reward('good', 'a', 1)") == '42501')
    ok('app: may not read the canary\'s status', sqlstate("SELECT * FROM bandit.canary_status('prod')") == '42501')
    ok('app: may not promote', sqlstate("SELECT bandit.promote_canary('prod')") == '42501')
    cur.execute('RESET ROLE')
    ok('the candidate learned the app\'s rewards',
       q1("SELECT count(*) FROM bandit.decision WHERE policy = 'good' AND canary_of = 'prod' AND reward IS NOT NULL "
          "AND id = ANY (%s)", cand_ids) == len(cand_ids))
    q("SELECT bandit.stop_canary('prod')")
    conn.close()
    admin.cursor().execute('DROP DATABASE ' + DB)
    admin.cursor().execute('DROP ROLE ' + APP)
    return report()


if __name__ == '__main__':
    sys.exit(main())
