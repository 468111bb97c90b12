#!/usr/bin/python3
"""Fuzzer of schema bandit.  Every function and aggregate of the schema is read
from pg_proc (support functions, type I/O and the API alike, so a new one is
fuzzed without anyone remembering to) and called, one statement each, under a
2 s statement_timeout:

- a systematic phase: NULL in each argument, then each hostile class of its type
  (NaN, +-Infinity, +-1e308, subnormals, 0, -1, extreme integers, empty,
  NULL-holding, 2-D, [0:n] and 100,000-element arrays, 30,000 arms in every array
  at once, malformed, 10,000-deep and 500-key jsonb, each known parameter at each
  extreme, unknown, 100,000-character and non-ASCII names, crafted summaries and
  tallies), the other arguments valid, against each policy, experiment and agent
  of a fixture of valid objects (a policy per algorithm, 10,000-character arm and
  variant names, a policy made just before the call, ...);
- then seeded random calls: mostly valid with one hostile argument, all hostile,
  one NULL; aggregates over small sets of hostile rows (some under a forced
  parallel plan, through their combine functions); crafted float8[] aggregate
  states of the right and wrong lengths; mutated bytes into receive functions by
  binary COPY.

A call fails the test on: a lost connection (crash: re-run alone in a fresh
session to tell a deterministic crash from one that earlier calls set up; the
fuzzer reconnects and goes on), a backend that ignores statement_timeout
(killed), XX000, NaN or Infinity from finite inputs (unless in ALLOWED, with
the reason), a produced value that its type's input rejects or reads back
differently (pg_dump could not restore it), an answer that contradicts the
state (an arm the policy lacks, a decision logged with another arm, a variant
other than the one stored), a p-value outside [0, 1], a negative standard error
or ci_lower > ci_upper, an error message that shows a rounded value, bad input
that only a table constraint stops (23502/23503/23514 naming a constraint, not
the argument), an IMMUTABLE function that answers differently when asked again,
a failed call that changed the state tables (checksummed before and after, on a
sample), a successful call that leaves NaN/Infinity in learned state or a
policy that can no longer choose, a LinUCB cache that answers differently from
a new session after VACUUM FULL and CLUSTER, and aggregate support functions
executable by PUBLIC (while a plain role can still run every aggregate). A
timeout is an outcome, not a failure; the slowest calls are listed.

FUZZ_SEED replays a run (the seed is printed first); FUZZ_CALLS sets the number
of calls (default 15,000: about 45-70 s when nothing crashes); FUZZ_REPORT names a
JSON file for every failure; FUZZ_ONLY=name,name fuzzes only these functions;
FUZZ_SWEEP=0 skips the systematic phase; FUZZ_REPRO='SQL' runs one statement
against a fresh fixture and prints its outcome.  Run inside a cluster
(test/run, which sets PGHOST etc.); prints "N passed, N failed"."""
import json
import os
import random
import re
import struct
import sys
import time
from collections import Counter, defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fuzz_lib import (HOSTILE_F, HOSTILE_I4, HOSTILE_I8, HOSTILE_JSON_LEAF, HOSTILE_JSONB,  # noqa: E402
                      Func, HOSTILE_TEXT, NONFINITE_F, TRIVIAL_ROUNDTRIP, Outcome, Runner, Types, V,
                      copy_binary, imprecise_message, invariant_problems, is_huge, lit, load_catalog,
                      nonfinite_in)
from testlib import fresh_database, ok, report  # noqa: E402

DB = 'bandit_fuzz_test'
SEED = int(os.environ.get('FUZZ_SEED') or random.SystemRandom().randrange(1, 2 ** 31))
CALLS = int(os.environ.get("FUZZ_CALLS") or 15000)
TIMEOUT_S = 2.0
RESET_EVERY = 1500          # calls between fixture rebuilds (keeps the state tables small)
PARALLEL_SHARE = 0.08       # aggregates with a combine function run this often under a parallel plan
CHECKSUM_SHARE = 0.12       # failing calls whose state tables are checksummed before/after
IMMUTABLE_SHARE = 0.1       # successful calls of IMMUTABLE functions made twice and compared
print('seed %d (replay: FUZZ_SEED=%d python3 test/fuzz_test.py)' % (SEED, SEED), flush=True)
rng = random.Random(SEED)

# A non-finite result from finite inputs that is documented, by (function, column): why.
def _one_sided(val, sql, col):
    return (col == 'ci_lower' and val == '-Infinity' and "'less'" in sql or
            col == 'ci_upper' and val == 'Infinity' and "'greater'" in sql)


ONE_SIDED = 'a one-sided interval is open on one side: API.md section 15 (as R t.test)'
ALLOWED = {(f, c): (lambda val, sql, c=c: _one_sided(val, sql, c), ONE_SIDED)
           for f in ('t_test', 't_test_final', 't_test_one_sample', 'analyze', 'compare_variants')
           for c in ('ci_lower', 'ci_upper', 'diff_ci_lower', 'diff_ci_upper')}
ALLOWED.update({
    ('fisher_exact', 'odds_ratio'): (lambda val, sql: val == 'Infinity',
                                     'COMMENT: a*d / (b*c), Infinity when b or c is 0 (= scipy)'),
    ('normal_quantile', 'normal_quantile'): (
        lambda val, sql: re.search(r"normal_quantile\('?-?%s'?::" % ('0' if val == '-Infinity' else '1'), sql) is not None,
        'COMMENT: -Infinity and Infinity at 0 and 1 (= scipy norm.ppf)'),
})

# Aggregate support functions that are also documented API, so PUBLIC keeps EXECUTE: why.
PUBLIC_SUPPORT = {
    'ensemble_winner': "README: the winner of a stored tally; its input is a validated bandit.ensemble_tally",
}

# --------------------------------------------------------------------------
# valid values, by (function, argument) or argument name: SQL expressions

POLICIES = ["'fz_thompson'", "'fz_ucb1'", "'fz_eps'", "'fz_softmax'", "'fz_linucb'", "'fz_shadow'",
            "'fz_linucb'", "'fz_lin8'", "'fz_lin8'", "'fz_long'", "'fz_longlin'", "'fz_fresh'"]
EXPERIMENTS = ["'fz_exp'", "'fz_seq'", "'fz_draft'", "'fz_longexp'"]
ARMS = ["'a'", "'b'", "'c'"]
F_SMALL = ['0.5', '1', '2', '0.1', '3', '10']
FEATURES = ["'{\"features\": [1, 0, 0.5]}'", "'{\"a\": 1, \"b\": \"x\"}'", "'{}'", "NULL",
            "'{\"user\": \"u1\", \"hour\": 3, \"vip\": true}'", "'{\"features\": [0.2, -1, 3]}'",
            # eligible arms (issue 14): a list, an unknown name, both keys, a non-string element
            "'{\"arms\": [\"a\", \"b\"], \"x\": 1}'", "'{\"exclude\": [\"zz\"]}'",
            "'{\"arms\": [], \"exclude\": []}'", "'{\"exclude\": [1, null]}'"]
SIGNAL = ('{"aggregation_round": %d, "cluster_hash": "fz", "participant_count": 3, "reward_signals": '
          '{"fz_key": {"success_rate": 0.5, "avg_latency": 120, "quality_score": 0.9, "total_samples": 5}, '
          '"fz_k2": {"success_rate": 0.25, "avg_latency": 80, "quality_score": 0.7, "total_samples": 4}}}')
TIERS = '[{"name": "hi", "min_score": 0.8, "reward": 1}, {"name": "mid", "min_score": 0.4, "reward": 0.5}, {"name": "lo", "reward": 0}]'
SUMMARIES = ["'(10,1.5,20)'", "'(20,2,15)'", "bandit.make_summary(30, 0.4, 1.2)", "'(2,1,0.5)'", "'(1,3,0)'"]

_new = [0]


def new_name(prefix):
    _new[0] += 1
    return "'%s%d'" % (prefix, _new[0])


VALID_ARG = {
    'policy': lambda: rng.choice(fx.created['policy']) if fx.created['policy'] and rng.random() < 0.2 else rng.choice(POLICIES),
    'algorithm': lambda: rng.choice(["'thompson'", "'ucb1'", "'epsilon_greedy'", "'softmax'", "'linucb'"]),
    'arms': lambda: rng.choice(["'{a,b,c}'", "'{x,y}'", "'{p}'"]),
    'arm': lambda: rng.choice(ARMS) if rng.random() < 0.8 else rng.choice([new_name('arm'), "repeat('x', 10000)", "'é日本🙂'"]),
    'arm_name': lambda: rng.choice(ARMS + ["'new'"]),
    'context': lambda: rng.choice(FEATURES),
    'decision_id': lambda: fx.decision(),
    'decision_ids': lambda: 'ARRAY[%s]::bigint[]' % ', '.join(fx.decision() for _ in range(rng.randint(1, 3))),
    'reward': lambda: rng.choice(['0', '1', '0.5', '0.25']),
    'rewards': lambda: rng.choice(["'{1,0}'", "'{0.5}'", "'{1,2,-1}'"]),
    'cost': lambda: rng.choice(['0.5', '2', 'NULL']),
    'latency_ms': lambda: rng.choice(['250', '40', 'NULL']),
    'quality': lambda: rng.choice(['0.8', '1']),
    'carbon': lambda: rng.choice(['2', '0']),
    'weights': lambda: rng.choice(["NULL", "'{\"quality\": 1}'", "'{\"a\": 0.5, \"b\": 2}'"]),
    'mode': lambda: rng.choice(["'active'", "'shadow'", "'off'"]),
    # import_policy: a real document now and then (export of a fixture policy, snapshots or not)
    'doc': lambda: ("bandit.export_policy(%s, %s)" % (rng.choice(POLICIES), rng.choice(['true', 'false']))
                    if rng.random() < 0.5 else "'{}'"),
    'label': lambda: rng.choice(["'l1'", "NULL"]),
    'k': lambda: rng.choice(['1', '2', '3']),
    'dim': lambda: rng.choice(['3', '8']),
    'snapshot_id': lambda: fx.snapshot(),
    'experiment': lambda: (rng.choice(fx.created['experiment']) if fx.created['experiment'] and rng.random() < 0.2
                           else rng.choice(EXPERIMENTS[:2] * 3 + EXPERIMENTS[2:])),
    'variants': lambda: rng.choice(["'{control,treat}'", "'{a,b,c}'"]),
    'allocation': lambda: rng.choice(["NULL", "'{0.5,0.5}'", "'{0.2,0.3,0.5}'"]),
    'unit_id': lambda: rng.choice(["'u%d'" % rng.randint(1, 30), "'w%d'" % rng.randint(1, 30), new_name('n')]),
    'unit_ids': lambda: rng.choice(["'{u1,u2,u3}'", "'{u4}'", "'{w1,w2}'"]),
    'stratum': lambda: rng.choice(["'s0'", "'s1'", "'s2'"]),
    'metric': lambda: rng.choice(["'conv'", "'rev'", "'m'"]),
    'covariate': lambda: rng.choice(["'rev'", "'conv'"]),
    'value': lambda: rng.choice(['0', '1', '2.5']),
    'values': lambda: rng.choice(["'{1,0,1}'", "'{2.5}'", "'{0,1}'"]),
    'reason': lambda: rng.choice(["'because'", "NULL"]),
    'agent': lambda: rng.choice(["'fz_agent'", "'fz_agent'", "'fz_other'"]),
    'state': lambda: rng.choice(["'s0'", "'s1'", "'s2'"]),
    'next_state': lambda: rng.choice(["'s0'", "'s1'", "NULL"]),
    'action': lambda: rng.choice(["'a0'", "'a1'"]),
    'actions': lambda: rng.choice(["'{a0,a1}'", "'{a0}'", "'{a0,a1,a2}'"]),
    'states': lambda: rng.choice(["'{s0,s1}'", "'{s1}'"]),
    'next_states': lambda: rng.choice(["'{s1,NULL}'", "'{NULL}'"]),
    'epsilon': lambda: rng.choice(['0.1', '0', '1']),
    'gamma': lambda: rng.choice(['0.9', '0.5', '1']),
    'capacity': lambda: rng.choice(['10', '100']),
    'n': lambda: rng.choice(['5', '10']),
    'replace': lambda: rng.choice(['true', 'false']),
    'document': lambda: lit(fx.qdoc),
    'signal': lambda: lit(SIGNAL % rng.randint(1000, 10 ** 9)),
    'key': lambda: rng.choice(["'fz_key'", "'fz_k2'", "'none'"]),
    'max_age': lambda: rng.choice(["'7 days'", "'1 hour'"]),
    'metrics': lambda: rng.choice(["'{\"a\": 1, \"b\": 2}'", "'{\"a\": 0.5}'"]),
    'score': lambda: rng.choice(['0.85', '0.5', '0.1']),
    'tiers': lambda: rng.choice([lit(TIERS), "NULL"]),
    'buckets': lambda: rng.choice(["'{}'", "'{\"hour\": \"exact\"}'", "'{\"hour\": 4}'", "'{\"hour\": [1, 5, 10]}'"]),
    'scope': lambda: rng.choice(["'fz_scope'", "'fz_scope'", "'other'"]),
    'new_value': lambda: rng.choice(['520', '0.42', '510']),
    'feedback_count': lambda: rng.choice(['25', '30', '0']),
    'confidence': lambda: rng.choice(['0.8', 'NULL']),
    'expected_value': lambda: rng.choice(['NULL', '500']),
    'indicated_value': lambda: rng.choice(['600', '0.5']),
    'prior_count': lambda: rng.choice(['10', '0']),
    'feedback_mean': lambda: rng.choice(['0.4', '300']),
    'target': lambda: rng.choice(['0.5', '250']),
    'gain': lambda: rng.choice(['1', '-2']),
    'lower_bound': lambda: '0', 'upper_bound': lambda: '1000', 'max_step': lambda: '50',
    'min_feedback': lambda: rng.choice(['0', '20']),
    'max_adjustments': lambda: rng.choice(['100', '5']),
    'per': lambda: rng.choice(["'1 hour'", "'1 day'"]),
    'days': lambda: rng.choice(['7', '1']),
    'proposal': lambda: "bandit.propose_value('fz_scope', 'v1', 600, 30, 10)",
    'v': lambda: "(SELECT t FROM bandit.tuning_value t WHERE scope = 'fz_scope' AND name = 'v1')",
    's': lambda: "(SELECT t FROM bandit.tuning_scope t WHERE scope = 'fz_scope')",
    'e': lambda: "(SELECT t FROM bandit.experiment t WHERE name = 'fz_exp')",
    'indicated': lambda: '600', 'why': lambda: "'fz'",
    'names': lambda: "'{control,treat}'",
    'summaries': lambda: 'ARRAY[%s, %s]::bandit.summary[]' % (rng.choice(SUMMARIES), rng.choice(SUMMARIES)),
    'is_binary': lambda: 'false', 'test_name': lambda: "'welch'",
    'binary_only': lambda: 'false',
    'params': lambda: rng.choice(["'{}'", "'{\"alpha\": 0.1}'"]),
    'defaults': lambda: "'{\"alpha\": 0.1, \"beta\": 2}'",
    'path': lambda: "'x'", 'low': lambda: '0', 'high': lambda: '1', 'whole': lambda: 'false',
    'accepted': lambda: "'0..1'", 'x': lambda: rng.choice(['1.5', '0.5', '-1']), 'argument': lambda: "'x'",
    'seed': lambda: rng.choice(['42', '1']),
    'salt': lambda: "'salt'",
    'lock': lambda: 'false',
    # statistics
    'alpha': lambda: rng.choice(['1', '2', '0.5', '10', '0.05']),
    'beta': lambda: rng.choice(['1', '3', '0.5', '10']),
    'p': lambda: rng.choice(['0.5', '0.025', '0.975', "'{0.01,0.04,0.03}'"]),
    'level': lambda: rng.choice(['0.95', '0.9']),
    'n1': lambda: rng.choice(['10', '30', '50']), 'n2': lambda: rng.choice(['12', '40', '50']),
    'mean1': lambda: rng.choice(['0', '1.5']), 'mean2': lambda: rng.choice(['0.2', '1']),
    'sd1': lambda: rng.choice(['1', '2']), 'sd2': lambda: rng.choice(['1.5', '0.5']),
    'equal_var': lambda: rng.choice(['true', 'false']),
    'alternative': lambda: rng.choice(["'two-sided'", "'less'", "'greater'"]),
    'successes1': lambda: rng.choice(['10', '3']), 'successes2': lambda: rng.choice(['15', '4']),
    'successes': lambda: rng.choice(['5', '0']),
    'correction': lambda: rng.choice(['true', 'false']),
    'observed': lambda: rng.choice(["'{{10,20},{30,40}}'", "'{{1,2,3},{4,5,6}}'", "'{5,15}'", "'{10,20,30}'"]),
    'expected': lambda: rng.choice(["NULL", "'{12,8}'", "'{20,20,20}'"]),
    'a': lambda: rng.choice(['3', '8']), 'b': lambda: rng.choice(['10', '2']),
    'c': lambda: rng.choice(['7', '1']), 'd': lambda: rng.choice(['2', '12']),
    'effect_size': lambda: rng.choice(['0.5', '0.2']), 'n_per_group': lambda: rng.choice(['30', '100']),
    'power': lambda: rng.choice(['0.8', '0.9']), 'p1': lambda: '0.1', 'p2': lambda: '0.15',
    'df': lambda: rng.choice(['10', '3.5']), 'nc': lambda: rng.choice(['0.5', '2']),
    'mu': lambda: rng.choice(['0', '1']), 'mixing_sd': lambda: rng.choice(['0.1', '1']),
    'mean': lambda: rng.choice(["'{0.1,0.2,0.15}'", "'{1,2}'"]),
    'sd': lambda: rng.choice(["'{0.01,0.02,0.015}'", "'{1,1}'"]),
    's1': lambda: rng.choice(SUMMARIES), 's2': lambda: rng.choice(SUMMARIES),
    'tally': lambda: rng.choice(["'{\"x\": [1, 0], \"y\": [2, 0]}'", "(SELECT bandit.ensemble_tally('z', 1.5))"]),
    'success': lambda: rng.choice(['true', 'false']),
    'prior_alpha': lambda: rng.choice(['1', '2']), 'prior_beta': lambda: rng.choice(['1', '3']),
    'target_propensity': lambda: rng.choice(['0.5', '1', '0.2']),
    'logging_propensity': lambda: rng.choice(['0.5', '0.25', '0.9']),
    'reward_hat_logged': lambda: rng.choice(['0.4', '0.6']), 'reward_hat_target': lambda: rng.choice(['0.5', '0.3']),
    'group2': lambda: rng.choice(['true', 'false']),
    'y': lambda: rng.choice(['1.5', '2']),
    'pulls': lambda: rng.choice(['0', '5', '10']), 'mean_reward': lambda: rng.choice(['0.5', '0.2', '0.9']),
    'temperature': lambda: rng.choice(['0.5', '1']),
    'action_w': lambda: "'x'", 'weight': lambda: rng.choice(['1', '0.5', '2']),
}
VALID_BY_FUNC = {
    ('create_policy', 'name'): lambda: rng.choice([new_name('fz_p')] * 4 + POLICIES),
    ('create_policy', 'params'): lambda: rng.choice(["'{}'", "'{\"epsilon\": 0.2}'", "'{\"dim\": 3}'",
                                                       "'{\"temperature\": 0.5}'", "'{\"prior_alpha\": 2, \"prior_beta\": 3}'",
                                                       "'{\"discount\": 0.9, \"mode\": \"shadow\"}'", "'{\"dim\": 2, \"alpha\": 0.5}'"]),
    ('create_experiment', 'name'): lambda: rng.choice([new_name('fz_e')] * 4 + EXPERIMENTS),
    ('create_experiment', 'params'): lambda: rng.choice(["'{}'", "'{\"metrics\": {\"m\": \"binary\"}}'",
                                                           "'{\"sequential\": true, \"min_sample_size\": 10}'",
                                                           "'{\"alpha\": 0.1, \"min_effect\": 0.01}'"]),
    ('start_experiment', 'name'): lambda: rng.choice(["'fz_draft'", new_name('nope')] + fx.created['experiment'] * 2),
    ('stop_experiment', 'name'): lambda: rng.choice(EXPERIMENTS),
    ('drop_experiment', 'name'): lambda: rng.choice(EXPERIMENTS + [new_name('nope')]),
    ('experiment_params', 'params'): lambda: rng.choice(["'{}'", "'{\"metrics\": [\"m\"]}'", "'{\"sequential\": true}'"]),
    ('policy_params', 'params'): lambda: rng.choice(["'{}'", "'{\"epsilon\": 0.2}'", "'{\"dim\": 3}'"]),
    ('new_arm', 'p'): lambda: "(SELECT t FROM bandit.policy t WHERE name = %s)" % rng.choice(POLICIES),
    ('identity_matrix', 'dim'): lambda: rng.choice(['3', '1', '10']),
    ('reward', 'policy'): lambda: rng.choice(POLICIES),
    ('q_learn', 'alpha'): lambda: rng.choice(['0.1', '0.5', '1']),
    ('q_learn_batch', 'alpha'): lambda: rng.choice(['0.1', '0.5']),
    ('q_replay', 'alpha'): lambda: rng.choice(['0.1', '0.5']),
    ('q_learn_batch', 'rewards'): lambda: rng.choice(["'{1,0}'", "'{0.5}'"]),
    ('define_tuning_value', 'name'): lambda: rng.choice(["'v1'", "'v2'", new_name('t')]),
    ('define_tuning_value', 'value'): lambda: rng.choice(['500', '0.5']),
    ('tuned_value', 'name'): lambda: rng.choice(["'v1'", "'v2'"]),
    ('tuning_value_row', 'name'): lambda: rng.choice(["'v1'", "'v2'"]),
    ('apply_adjustment', 'name'): lambda: rng.choice(["'v1'", "'v2'"]),
    ('propose_value', 'name'): lambda: rng.choice(["'v1'", "'v2'"]),
    ('propose_adjustment', 'name'): lambda: rng.choice(["'v1'", "'v2'"]),
    ('validate_adjustment', 'name'): lambda: rng.choice(["'v1'", "'v2'"]),
    ('take_tuning_snapshot', 'label'): lambda: "'l'",
    ('rollback_tuning', 'snapshot_id'): lambda: fx.tsnapshot(),
    ('prob_best', 'alpha'): lambda: rng.choice(["'{2,3,4}'", "'{1,1}'", "'{100,120}'"]),
    ('prob_best', 'beta'): lambda: rng.choice(["'{5,4,3}'", "'{1,1}'", "'{900,880}'"]),
    ('expected_loss', 'alpha'): lambda: rng.choice(["'{2,3,4}'", "'{1,1}'"]),
    ('expected_loss', 'beta'): lambda: rng.choice(["'{5,4,3}'", "'{1,1}'"]),
    ('holm', 'p'): lambda: rng.choice(["'{0.01,0.04,0.03}'", "'{0.5}'"]),
    ('chisquare', 'observed'): lambda: rng.choice(["'{5,15}'", "'{10,20,30}'"]),
    ('chi2_contingency', 'observed'): lambda: rng.choice(["'{{10,20},{30,40}}'", "'{{1,2,3},{4,5,6}}'"]),
    ('proportion_interval', 'n'): lambda: rng.choice(['20', '1']),
    ('beta_posterior', 'reward'): lambda: rng.choice(['0', '1', '0.5']),
    ('q_select', 'epsilon'): lambda: rng.choice(['0.1', '0', '1']),
    ('assignment_point', 'salt'): lambda: "'abc'",
    ('hash_features', 'context'): lambda: rng.choice(FEATURES[1:3] + ["'{\"a\": [1], \"b\": null}'"]),
    ('state_key', 'context'): lambda: rng.choice(["'{\"hour\": 3, \"user\": \"u\"}'", "'{\"a\": [1, 2]}'"]),
    ('reward_score', 'weights'): lambda: rng.choice(["'{\"a\": 0.5}'", "'{\"a\": 1, \"b\": -1}'"]),
    ('tuning_history', 'days'): lambda: '7',
    ('tuning_history', 'scope'): lambda: "'fz_scope'",
    ('snapshot', 'policy'): lambda: rng.choice(POLICIES),
    ('ensemble_accum', 'arg2'): lambda: rng.choice(["'x'", "'y'"]),
}
# aggregate rows: by (aggregate, argument)
VALID_BY_FUNC.update({
    ('thompson_choice', 'alpha'): lambda: rng.choice(['1', '5', '20']),
    ('thompson_choice', 'beta'): lambda: rng.choice(['1', '5', '20']),
    ('ucb1_choice', 'c'): lambda: rng.choice(['1', '0.5']),
    ('ensemble_choice', 'action'): lambda: rng.choice(["'x'", "'y'", "'z'"]),
    ('ensemble_tally', 'action'): lambda: rng.choice(["'x'", "'y'", "'z'"]),
    ('t_test', 'value'): lambda: rng.choice(['1', '2.5', '3', '-1']),
    ('summarize', 'value'): lambda: rng.choice(['1', '2.5', '3', '-1']),
    ('merge', 's'): lambda: rng.choice(SUMMARIES),
    ('beta_posterior', 'prior_alpha'): lambda: '1', ('beta_posterior', 'prior_beta'): lambda: '1',
})

PARAM_KEYS = ['prior_alpha', 'prior_beta', 'epsilon', 'epsilon_decay', 'min_epsilon', 'c', 'temperature',
              'discount', 'alpha', 'dim', 'min_sample_size', 'max_sample_size', 'early_alpha', 'min_effect',
              'mixing_sd', 'default_arm']
PARAM_EXTREMES = ['1e-320', '1e300', '1e308', '0', '-1', '2147483648', '0.9999999999999999']

# the systematic phase sweeps the other arguments against each of these in turn
ANCHORS = {'policy': sorted(set(POLICIES)), 'experiment': EXPERIMENTS, 'agent': ["'fz_agent'", "'fz_other'"]}

# arguments whose hostile values are better drawn from another argument's names
NAME_ARGS = {'policy', 'experiment', 'agent', 'scope', 'name', 'arm', 'unit_id', 'metric', 'key', 'state',
             'action', 'stratum', 'label', 'reason', 'next_state', 'covariate'}


class Fixture:
    """Valid objects the stateful API is called against; rebuilt from scratch now and then."""

    def __init__(self, run):
        self.run = run
        self.decisions, self.snapshots, self.tsnapshots = [], [], []
        self.changes = []     # successful volatile calls since the last reset
        self.resets = 0
        self.created = {'policy': [], 'experiment': []}
        self.qdoc = '{}'
        cur = run.cur
        cur.execute("""SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'bandit'::regnamespace
                       AND c.relkind = 'r' ORDER BY 1""")
        self.tables = [r[0] for r in cur.fetchall()]
        # order-independent: a count and a sum of row hashes per table
        self.checksum_sql = 'SELECT string_agg(x, \' \' ORDER BY x) FROM (%s) s' % ' UNION ALL '.join(
            "SELECT '%s:' || count(*) || ':' || coalesce(sum(hashtextextended(t::text, 0)::numeric), 0) AS x "
            "FROM bandit.%s t" % (t, t) for t in self.tables)
        cur.execute("""SELECT c.relname, a.attname, format_type(a.atttypid, NULL)
                       FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
                       WHERE c.relnamespace = 'bandit'::regnamespace AND c.relkind = 'r'
                         AND a.attnum > 0 AND NOT a.attisdropped
                         AND a.atttypid IN ('float8'::regtype, 'float8[]'::regtype)""")
        parts = []
        for rel, col, typ in cur.fetchall():
            cond = ("%s IN ('NaN', 'Infinity', '-Infinity')" % col if typ == 'double precision' else
                    "EXISTS (SELECT 1 FROM unnest(%s) x WHERE x IN ('NaN', 'Infinity', '-Infinity'))" % col)
            parts.append("SELECT '%s.%s', t::text FROM bandit.%s t WHERE %s" % (rel, col, rel, cond))
        self.nonfinite_sql = '(%s) LIMIT 1' % ') UNION ALL ('.join(parts) if parts else 'SELECT 1 WHERE false'
        self.fingerprint_sql = """SELECT (SELECT string_agg(p.name || p.mode || (SELECT count(*) >= 2 FROM bandit.arm a
                                                              WHERE a.policy = p.name AND NOT a.retired), ',' ORDER BY p.name)
                    FROM bandit.policy p WHERE p.name IN (%s))
            || '/' || (SELECT string_agg(name || status, ',' ORDER BY name) FROM bandit.experiment WHERE name IN ('fz_exp', 'fz_seq', 'fz_draft', 'fz_longexp'))
            || '/' || (SELECT count(*) FROM bandit.tuning_value WHERE scope = 'fz_scope' AND name IN ('v1', 'v2'))
            || '/' || (SELECT count(*) > 0 FROM bandit.q_table WHERE agent = 'fz_agent')""" % ', '.join(sorted(set(POLICIES)))
        self.reset()

    SETUP = [
        "SELECT bandit.set_seed(7)",
        "SELECT bandit.create_policy('fz_thompson', 'thompson', '{a,b,c}')",
        "SELECT bandit.create_policy('fz_ucb1', 'ucb1', '{a,b,c}', '{\"c\": 0.5}')",
        "SELECT bandit.create_policy('fz_eps', 'epsilon_greedy', '{a,b,c}', '{\"epsilon\": 0.2, \"epsilon_decay\": 0.99}')",
        "SELECT bandit.create_policy('fz_softmax', 'softmax', '{a,b,c}', '{\"temperature\": 0.5}')",
        "SELECT bandit.create_policy('fz_linucb', 'linucb', '{a,b,c}', '{\"dim\": 3, \"alpha\": 0.5}')",
        "SELECT bandit.create_policy('fz_lin8', 'linucb', '{a,b}', '{\"dim\": 8, \"alpha\": 1}')",
        "SELECT bandit.create_policy('fz_fresh', 'softmax', '{a,b,c}')",
        "SELECT bandit.create_policy('fz_long', 'ucb1', ARRAY[repeat('x', 10000), 'é日本🙂', 'b'])",
        "SELECT bandit.create_policy('fz_longlin', 'linucb', ARRAY[repeat('y', 10000), 'b'], '{\"dim\": 3}')",
        "SELECT bandit.create_experiment('fz_longexp', ARRAY[repeat('v', 10000), 'ü'])",
        "SELECT bandit.start_experiment('fz_longexp')",
        "SELECT bandit.create_policy('fz_shadow', 'thompson', '{a,b,c}', '{\"mode\": \"shadow\", \"discount\": 0.9}')",
        "SELECT bandit.reward(d.decision_id, (g % 2)::float8) FROM generate_series(1, 3) g, "
        "unnest(ARRAY['fz_thompson', 'fz_ucb1', 'fz_eps', 'fz_softmax', 'fz_shadow']) p, LATERAL bandit.choose(p, jsonb_build_object('g', g)) d",
        "SELECT bandit.reward(d.decision_id, 0.5) FROM generate_series(1, 3) g, "
        "LATERAL bandit.choose('fz_linucb', jsonb_build_object('features', jsonb_build_array(1, g, 0.5))) d",
        "SELECT count(*) FROM unnest(ARRAY['fz_thompson', 'fz_ucb1', 'fz_linucb']) p, LATERAL bandit.choose(p, '{\"features\": [0, 1, 0]}') d",
        "SELECT bandit.snapshot('fz_thompson', 's1'), bandit.snapshot('fz_linucb', 's2')",
        "SELECT bandit.create_experiment('fz_exp', '{control,treat}', NULL, "
        "'{\"metrics\": {\"conv\": \"binary\", \"rev\": \"continuous\"}, \"min_sample_size\": 5}')",
        "SELECT bandit.start_experiment('fz_exp')",
        "SELECT count(bandit.assign('fz_exp', 'u' || i)) FROM generate_series(1, 30) i",
        "SELECT count(bandit.record_metric('fz_exp', 'u' || i, 'conv', (i % 2)::float8)) FROM generate_series(1, 30) i",
        "SELECT count(bandit.record_metric('fz_exp', 'u' || i, 'rev', i * 1.5)) FROM generate_series(1, 30) i",
        "SELECT bandit.create_experiment('fz_seq', '{a,b,c}', '{0.2,0.3,0.5}', '{\"sequential\": true, \"min_sample_size\": 5}')",
        "SELECT bandit.start_experiment('fz_seq')",
        "SELECT count(bandit.assign('fz_seq', 'w' || i, 's' || (i % 3))) FROM generate_series(1, 30) i",
        "SELECT count(bandit.record_metric('fz_seq', 'w' || i, 'm', i % 7)) FROM generate_series(1, 30) i",
        "SELECT bandit.create_experiment('fz_draft', '{x,y}')",
        "SELECT bandit.q_learn('fz_agent', 's' || (i % 3), 'a' || (i % 2), i * 0.1, 's' || ((i + 1) % 3)) FROM generate_series(1, 10) i",
        "SELECT bandit.q_remember('fz_agent', 's1', 'a1', 1, 's2', 10)",
        "SELECT bandit.define_tuning_value('fz_scope', 'v1', 500, 100, 2000, 50, 20)",
        "SELECT bandit.define_tuning_value('fz_scope', 'v2', 0.4, 0, 1, 0.05, 0)",
        "SELECT bandit.set_tuning_rate_limit('fz_scope', 1000, '1 hour')",
        "SELECT bandit.snapshot_tuning('fz_scope', 't1')",
        "SELECT bandit.apply_signal(%s)" % lit(SIGNAL % 1),
    ]

    def reset(self):
        r = self.run
        self.resets += 1
        self.changes = []
        self.wipe()
        for sql in self.SETUP:
            r.scalar(sql)
        self.refresh()

    def grown(self):
        """Whether the state tables take more than 3 MB (0.8 MB after a rebuild): a huge call succeeded,
        or deleted rows piled up."""
        return int(self.run.scalar("""SELECT sum(pg_total_relation_size(oid)) FROM pg_class
                                       WHERE relnamespace = 'bandit'::regnamespace AND relkind = 'r'""")) > 3 << 20

    def wipe(self):
        """Empties the state tables: DELETE (10x faster than TRUNCATE on small tables, foreign keys off
        meanwhile), or TRUNCATE once they have grown."""
        if self.grown():
            self.run.scalar('TRUNCATE %s; SELECT 1' % ', '.join('bandit.' + t for t in self.tables))
        else:
            self.run.scalar("SET session_replication_role = replica; %s; RESET session_replication_role; SELECT 1"
                            % '; '.join('DELETE FROM bandit.' + t for t in self.tables))
        # the priors are one object, made by CREATE EXTENSION
        self.run.scalar("INSERT INTO bandit.object (kind, name, owner) SELECT 'priors', '*', extowner::regrole "
                        "FROM pg_extension WHERE extname = 'bandit' ON CONFLICT DO NOTHING; SELECT 1")

    def refresh(self):
        r = self.run
        self.decisions = [int(x) for x in (r.scalar('SELECT array_agg(id ORDER BY id)::text[] FROM bandit.decision') or '{}')
                          .strip('{}').split(',') if x]
        self.snapshots = [x for x in (r.scalar('SELECT array_agg(id)::text FROM bandit.snapshot') or '{}').strip('{}').split(',') if x]
        self.tsnapshots = [x for x in (r.scalar('SELECT array_agg(id)::text FROM bandit.tuning_snapshot') or '{}').strip('{}').split(',') if x]
        self.qdoc = r.scalar("SELECT bandit.q_export('fz_agent')::text") or '{}'
        for kind, table in (('policy', 'policy'), ('experiment', 'experiment')):
            names = r.scalar("SELECT array_agg(quote_literal(name))::text FROM bandit.%s WHERE name LIKE 'fz\\_%%' "
                             "AND name NOT IN (%s)" % (table, ', '.join(sorted(set(POLICIES + EXPERIMENTS)))))
            self.created[kind] = [x for x in (names or '{}').strip('{}').split(',') if x]
        self.fingerprint = r.scalar(self.fingerprint_sql)

    def intact(self):
        return self.run.scalar(self.fingerprint_sql) == self.fingerprint

    def decision(self):
        if self.decisions and rng.random() < 0.85:
            return str(rng.choice(self.decisions))
        return str((max(self.decisions) if self.decisions else 0) + rng.randint(1, 1000))

    def snapshot(self):
        return rng.choice(self.snapshots) if self.snapshots and rng.random() < 0.85 else '999999'

    def tsnapshot(self):
        return rng.choice(self.tsnapshots) if self.tsnapshots and rng.random() < 0.85 else '999999'


# --------------------------------------------------------------------------
# values of a type

def json_mutate(doc):
    """The JSON text with one leaf or key replaced by something hostile."""
    try:
        obj = json.loads(doc)
    except ValueError:
        return doc
    paths = []

    def walk(o, path):
        if isinstance(o, dict):
            for k, v in o.items():
                paths.append(path + [k])
                walk(v, path + [k])
        elif isinstance(o, list):
            for i, v in enumerate(o):
                paths.append(path + [i])
                walk(v, path + [i])
    walk(obj, [])
    leaf = rng.choice(HOSTILE_JSON_LEAF)
    if not paths:
        return leaf
    path = rng.choice(paths)
    parent = obj
    for p in path[:-1]:
        parent = parent[p]
    roll = rng.random()
    if roll < 0.1 and isinstance(parent, dict):
        del parent[path[-1]]
    elif roll < 0.2 and isinstance(parent, dict):
        parent[rng.choice(['colour', 'features', 'arms', '', 'x' * 100])] = json.loads(leaf)
    else:
        parent[path[-1]] = json.loads(leaf)
    return json.dumps(obj)


class Gen:
    def __init__(self, types):
        self.t = types
        self.tame = set()     # functions that timed out twice: no huge sizes any more

    def valid(self, func, argname, typ):
        fn = func.name
        f = VALID_BY_FUNC.get((fn, argname)) or VALID_ARG.get(argname)
        if f is not None:
            expr = f()
            if self.fits(expr, typ):
                return self.cast(expr, typ)
        return self.benign(typ)

    def fits(self, expr, typ):
        """Whether a pool's value suits this type (pools are by argument name, and a name like
        'mean' is a number in one function and an array in another)."""
        name = self.t.name(typ)
        row = re.match(r'\(SELECT t FROM (bandit\.\w+) t', expr)
        if row:
            return row.group(1) == name
        if name.startswith('bandit.') and self.t.info[typ]['kind'] == 'c' and re.match(r"^'[^{(]", expr):
            return False
        looks_array = expr.startswith("'{") or expr.startswith('ARRAY') or expr.startswith('array_')
        if self.t.is_array(typ):
            return looks_array or expr == 'NULL' or expr.startswith('(SELECT') or expr.startswith("'[")
        if looks_array and name not in ('jsonb', 'text', 'bandit.ensemble_tally', 'cstring'):
            return False
        if name in ('bigint', 'integer', 'smallint'):
            return re.match(r'^-?\d+$', expr) is not None or expr == 'NULL'
        if name in ('double precision', 'numeric'):
            return re.match(r'^-?[\d.e+-]+$', expr) is not None or expr == 'NULL'
        return True

    def benign(self, typ):
        """A harmless value of a type, for an argument the pools do not know."""
        name = self.t.name(typ)
        simple = {'double precision': rng.choice(F_SMALL), 'bigint': rng.choice(['1', '5', '10']),
                  'integer': rng.choice(['1', '3']), 'smallint': '1', 'boolean': rng.choice(['true', 'false']),
                  'text': rng.choice(["'x'", "'a'"]), 'jsonb': "'{}'", 'numeric': '0.5', 'interval': "'1 day'",
                  'double precision[]': rng.choice(["'{1,2}'", "'{0.5}'"]), 'text[]': "'{a,b}'",
                  'bigint[]': "'{{1,2},{3,4}}'", 'bandit.summary': rng.choice(SUMMARIES),
                  'bandit.summary[]': 'ARRAY[%s]::bandit.summary[]' % rng.choice(SUMMARIES),
                  'bandit.ensemble_tally': "'{\"x\": [1, 0]}'", 'cstring': "'(3,1,2)'",
                  'bandit.snips_state': rng.choice(SNIPS_TEXTS[:2]), 'bandit.alternative': rng.choice(["'less'", "'two-sided'"])}
        if name in simple:
            return self.cast(simple[name], typ)
        return self.hostile_composite(typ, benign=True) if self.t.info[typ]['kind'] == 'c' else V('NULL::%s' % name)

    def cast(self, expr, typ):
        name = self.t.name(typ)
        if re.match(r'^[-+]?[\w.]+([eE][-+]\d+)?$', expr) and expr not in ('NULL', 'true', 'false'):
            expr = lit(expr)      # '-1e308'::float8, not -(1e308::float8); 'NaN', not a column NaN
        return V('%s::%s' % (expr if re.match(r"^('([^']|'')*'|NULL|true|false)$", expr) else '(%s)' % expr, name),
                 finite=not re.search(r'NaN|Infinity|infinity', expr))

    def null(self, typ):
        return V('NULL::%s' % self.t.name(typ))

    def hostile(self, func, argname, typ, huge_ok):
        """A hostile value of the argument's type (sometimes a valid one of another argument)."""
        name = self.t.name(typ)
        for _ in range(5):
            v = self._hostile(func, argname, typ, name)
            if huge_ok or not is_huge(v.sql):
                return v
        return self.valid(func, argname, typ)

    def _hostile(self, func, argname, typ, name):
        r = rng.random()
        if name == 'double precision':
            return self.cast(rng.choice(NONFINITE_F) if r < 0.2 else rng.choice(HOSTILE_F), typ)
        if name in ('bigint', 'integer', 'smallint'):
            pool = HOSTILE_I8 if name == 'bigint' else HOSTILE_I4 if name == 'integer' else ['32767', '-32768', '0', '-1']
            if func.sig in self.tame:    # it timed out: sizes stay small
                pool = [x for x in pool if abs(int(x)) <= 1000]
            return self.cast(rng.choice(pool), typ)
        if name == 'numeric':
            return self.cast(rng.choice(HOSTILE_F + ["'NaN'", '1e1000', '-1e1000', "'Infinity'"]), typ)
        if name == 'boolean':
            return self.cast(rng.choice(['true', 'false']), typ)
        if name == 'text' or name == 'cstring':
            if func.name.endswith('_in') and name == 'cstring':
                return self.cast(self.type_text(func), typ)
            if argname in NAME_ARGS and r < 0.3:
                other = rng.choice(sorted(NAME_ARGS))
                f = VALID_ARG.get(other)
                if f:
                    return self.cast(f(), typ)
            return self.cast(rng.choice(HOSTILE_TEXT), typ)
        if name == 'jsonb':
            if r < 0.55:
                f = VALID_BY_FUNC.get((func.name, argname)) or VALID_ARG.get(argname)
                base = f() if f else "'{}'"
                m = re.match(r"^'((?:[^']|'')*)'$", base)
                if m:
                    return self.cast(lit(json_mutate(m.group(1).replace("''", "'"))), typ)
            return self.cast(rng.choice(HOSTILE_JSONB), typ)
        if name == 'interval':
            return self.cast(rng.choice(["'-1 day'", "'0'", "'178000000 years'", "'-178000000 years'",
                                         "'1 microsecond'", "'1 mon -31 days'"]), typ)
        if name == 'bandit.summary':
            return self.cast(rng.choice(HOSTILE_SUMMARY), typ)
        if name == 'bandit.ensemble_tally':
            return self.cast(rng.choice(HOSTILE_TALLY), typ)
        if name == 'bandit.snips_state':
            return self.cast(rng.choice(HOSTILE_SNIPS), typ)
        if self.t.is_array(typ):
            return self.hostile_array(func, argname, typ, name)
        if self.t.info[typ]['kind'] == 'c':
            return self.hostile_composite(typ)
        return self.null(typ)

    def type_text(self, func):
        if 'summary' in func.name:
            return rng.choice(SUMMARY_TEXTS)
        return rng.choice(TALLY_TEXTS)

    def hostile_array(self, func, argname, typ, name):
        elem = self.t.info[typ]['elem']
        ename = self.t.name(elem)
        r = rng.random()
        if r < 0.08:
            return V("'{}'::%s" % name)
        if r < 0.14:
            huge = {'double precision': "array_fill(%s::float8, ARRAY[100000])" % rng.choice(['0.5', '1e308', '2', '0']),
                    'text': "ARRAY(SELECT 'a' || i FROM generate_series(1, 100000) i)",
                    'bigint': rng.choice(["array_fill(3::bigint, ARRAY[300, 300])", "array_fill(5::bigint, ARRAY[2, 100000])",
                                          "array_fill(1::bigint, ARRAY[100000])"]),
                    'bandit.summary': "array_fill('(3,1,2)'::bandit.summary, ARRAY[100000])"}
            if ename in huge:
                return V('%s::%s' % (huge[ename], name), huge=True)
        if r < 0.2:
            lower = {'double precision': "'[0:2]={1,2,3}'", 'text': "'[0:1]={a,b}'", 'bigint': "'[0:1][0:1]={{1,2},{3,4}}'"}
            if ename in lower:
                return self.cast(lower[ename], typ)
        if r < 0.3:      # two-dimensional
            n = rng.randint(1, 3)
            rows = ['[%s]' % ', '.join(self.elem(func, argname, elem, 0.3).sql for _ in range(2)) for _ in range(n)]
            v = 'ARRAY[%s]::%s' % (', '.join(rows), name)
            return V(v, finite=not re.search(r'NaN|Infinity', v))
        if ename == 'double precision' and r < 0.5:   # a crafted aggregate state or vector
            n = rng.choice(STATE_LENGTHS + [1, 2, 3, 4, 5, 6, 12])
            return self.float_vector(n, name)
        n = rng.choice([1, 1, 2, 2, 3, 3, 4, 6])
        items = [self.elem(func, argname, elem, 0.35 if rng.random() < 0.6 else 1.0).sql for _ in range(n)]
        v = 'ARRAY[%s]::%s' % (', '.join(items), name)
        return V(v, finite=not re.search(r'NaN|Infinity', v))

    def float_vector(self, n, name='double precision[]'):
        base = rng.choice([['0'] * n, ['1'] * n, [rng.choice(F_SMALL) for _ in range(n)], None])
        if base is None:
            base = [rng.choice(HOSTILE_F + NONFINITE_F + ['NULL']) for _ in range(n)]
        else:
            for _ in range(rng.randint(1, 2)):
                base[rng.randrange(n)] = rng.choice(HOSTILE_F + NONFINITE_F + ['NULL', '-1', '-5'])
        v = "'{%s}'::%s" % (','.join(base), name)
        return V(v, finite=not re.search(r'NaN|Infinity', v))

    def elem(self, func, argname, elem, p_hostile):
        if rng.random() < p_hostile:
            v = self._hostile(func, argname, elem, self.t.name(elem))
            if not is_huge(v.sql):
                return v
        if rng.random() < 0.1:
            return self.null(elem)
        ename = self.t.name(elem)
        pools = {'double precision': F_SMALL, 'text': ARMS + ["'x'", "'y'"], 'bigint': ['1', '5', '10', '0'],
                 'bandit.summary': SUMMARIES}
        return self.cast(rng.choice(pools.get(ename, ['NULL'])), elem)

    def hostile_composite(self, typ, benign=False):
        fields = self.t.fields.get(typ, [])
        vals = []
        bad = rng.randrange(len(fields)) if fields and not benign else -1
        for i, (fname, ftyp) in enumerate(fields):
            fake = Func((0, 'row', '', 'f', 'i', False, False, 0, [], [], False, 0))
            if i == bad:
                vals.append(self._hostile(fake, fname, ftyp, self.t.name(ftyp)).sql)
            elif fname in VALID_ARG:
                vals.append(self.cast(VALID_ARG[fname](), ftyp).sql)
            elif fname in ('status',):
                vals.append("'running'")
            elif self.t.info[ftyp]['kind'] == 'c':
                vals.append('NULL::%s' % self.t.name(ftyp))
            else:
                vals.append(self.benign(ftyp).sql)
        v = 'ROW(%s)::%s' % (', '.join(vals), self.t.name(typ))
        return V(v, finite=not re.search(r'NaN|Infinity', v))


SUMMARY_TEXTS = ["'(3,1,2)'", "'(0,0,0)'", "'(1,5,0)'", "'(9223372036854775807,1,1)'", "'(2,1e308,1e308)'",
                 "'(-1,0,0)'", "'(3,NaN,1)'", "'(3,1,-1)'", "'(0,5,3)'", "'(1,0,5)'", "'(3,1,2'", "'(3,1,2)x'",
                 "' ( 3 , 1 , 2 ) '", "'(1.5,1,1)'", "'(9223372036854775808,0,0)'", "'(3,1,Infinity)'",
                 "'(3,1e-320,5e-324)'", "'()'", "''", "'(3,,2)'", "'(3,1,2,4)'", "'(+3,1,2)'", "'(3;1;2)'",
                 "'(2,-1.7976931348623157e308,1.7976931348623157e308)'", "'(0x10,1,1)'", "'(3,1,1e309)'"]
HOSTILE_SUMMARY = SUMMARY_TEXTS[:10] + SUMMARY_TEXTS[15:17] + SUMMARY_TEXTS[23:24] + [
    "bandit.make_summary(9223372036854775807, 1e308, 1e308)", "bandit.make_summary(1, 0, 0)",
    "bandit.make_summary(2, -1e308, 0)", "(SELECT bandit.summarize(x) FROM unnest('{1,2,3}'::float8[]) x)"]
TALLY_TEXTS = ["'{}'", "'{\"x\": [1, 0]}'", "'{\"x\": [1e308, 0], \"y\": [1e308, 0]}'", "'{\"x\": [-1, 0]}'",
               "'{\"x\": [1]}'", "'{\"x\": [1, 0, 0]}'", "'{\"x\": \"a\"}'", "'[1]'", "'{\"\": [1, 0]}'",
               "'{\"x\": [NaN, 0]}'", "'{\"x\": [1, 0], \"x\": [2, 0]}'", "'{\"x\": [1e-320, 5e-324]}'",
               "'{\"é日本\": [1, 2]}'", "'{\"x\": [1, 0]'", "'{x: [1, 0]}'", "'null'", "''",
               "'{\"x\": [Infinity, 0]}'", "'{\"x\": [1, -1e308]}'", "'{\"x\": [0, 1e400]}'"]
HOSTILE_TALLY = TALLY_TEXTS + ["(SELECT bandit.ensemble_tally('z', 1e308))"]
SNIPS_TEXTS = ["'(2,1,0.5,1,0.5,0.5)'", "'(0,0,0,0,0,0)'", "'(9007199254740992,1e308,1e308,1e308,-1e308,1e308)'",
               "'(1,2,3,4,5,6)'", "'(0.5,0,0,0,0,0)'", "'(3,-1,0,0,0,0)'", "'(3,1,NaN,1,0,0)'", "'(3,1,0,1,0,Infinity)'",
               "'(1,2,3)'", "'(1,2,3,4,5,6,7)'", "''", "'(3,1,1e-320,5e-324,0,0)'", "'(9007199254740993,1,1,1,1,1)'"]
HOSTILE_SNIPS = SNIPS_TEXTS[:8] + ["(SELECT bandit.snips_state(1, 1, 1e-300))", "(SELECT bandit.snips_state(1e308, 1, 0.5))"]
STATE_LENGTHS = []   # filled from the aggregates' initial states

# --------------------------------------------------------------------------
# calls


def call_sql(func, args):
    a = ', '.join(v.sql for v in args)
    return 'SELECT * FROM %s(%s) LIMIT 200' % (func.qname, a)


def agg_rows(func, gen, strategy, huge_ok):
    nrows = rng.choice([0, 1, 1, 2, 3, 3, 4, 6])
    rows = []
    for _ in range(nrows):
        row = []
        for name, typ in zip(func.argnames, func.argtypes):
            roll = rng.random()
            if strategy == 'all_hostile' or roll < 0.25:
                row.append(gen.hostile(func, name, typ, False))
            elif roll < 0.3:
                row.append(gen.null(typ))
            else:
                row.append(gen.valid(func, name, typ))
        rows.append(row)
    return rows


def agg_sql(func, rows, types, huge=False):
    cols = ['c%d' % (i + 1) for i in range(len(func.argtypes))]
    if rows:
        src = '(VALUES %s) t(%s)' % (', '.join('(%s)' % ', '.join(v.sql for v in r) for r in rows), ', '.join(cols))
    else:
        src = '(SELECT %s WHERE false) t(%s)' % (', '.join('NULL::%s' % types.name(t) for t in func.argtypes),
                                                 ', '.join(cols))
    if huge:
        src += ', generate_series(1, 100000) g'
    agg = '%s(%s)' % (func.qname, ', '.join('t.' + c for c in cols))
    if types.info[func.rettype]['kind'] == 'c':
        return 'SELECT (r).* FROM (SELECT %s AS r FROM %s) s' % (agg, src)
    return 'SELECT %s FROM %s' % (agg, src)


def agg_parallel_sql(func, rows, types):
    cols = ['c%d' % (i + 1) for i in range(len(func.argtypes))]
    create = 'CREATE TABLE fz_par(%s)' % ', '.join('%s %s' % (c, types.name(t)) for c, t in zip(cols, func.argtypes))
    ins = ('INSERT INTO fz_par SELECT t.* FROM (VALUES %s) t, generate_series(1, 500)' %
           ', '.join('(%s)' % ', '.join(v.sql for v in r) for r in rows))
    agg = '%s(%s)' % (func.qname, ', '.join(cols))
    sel = ('SELECT (r).* FROM (SELECT %s AS r FROM fz_par) s' if types.info[func.rettype]['kind'] == 'c'
           else 'SELECT %s FROM fz_par') % agg
    return ('BEGIN; %s; %s; SET LOCAL parallel_setup_cost = 0; SET LOCAL parallel_tuple_cost = 0; '
            'SET LOCAL min_parallel_table_scan_size = 0; SET LOCAL max_parallel_workers_per_gather = 2; '
            'SET LOCAL parallel_leader_participation = off; %s' % (create, ins, sel))


def main():
    for _ in range(300):     # a server still recovering from an earlier crash
        try:
            fresh_database(DB)[0].close()
            break
        except __import__('psycopg2').OperationalError:
            time.sleep(0.3)
    boot = __import__('psycopg2').connect(dbname=DB)
    types = Types(boot.cursor())
    funcs = load_catalog(boot.cursor())
    cur = boot.cursor()
    cur.execute("SELECT DISTINCT agginitval FROM pg_aggregate WHERE aggfnoid::regproc::text LIKE 'bandit.%' "
                "AND aggtranstype = 'float8[]'::regtype")
    for (init,) in cur.fetchall():
        if init:
            STATE_LENGTHS.append(len(init.strip('{}').split(',')))
    # aggregate support functions are internal helpers: not executable by PUBLIC (COMMON.md)
    cur.execute("""SELECT DISTINCT p.oid::regprocedure::text FROM pg_aggregate a
                   JOIN pg_proc p ON p.oid IN (a.aggtransfn, a.aggcombinefn, a.aggfinalfn, a.aggserialfn, a.aggdeserialfn)
                   WHERE a.aggfnoid::regproc::text LIKE 'bandit.%'
                     AND (p.proacl IS NULL OR EXISTS (SELECT 1 FROM aclexplode(p.proacl) x
                                                      WHERE x.grantee = 0 AND x.privilege_type = 'EXECUTE'))
                   ORDER BY 1""")
    public_support = [r[0] for r in cur.fetchall() if r[0].split('(')[0].split('.')[-1] not in PUBLIC_SUPPORT]
    boot.close()

    run = Runner(DB, types, timeout_s=TIMEOUT_S)
    global fx
    fx = Fixture(run)
    gen = Gen(types)
    if os.environ.get('FUZZ_REPRO'):     # one statement against a fresh fixture, to confirm a report
        print(run.execute(os.environ['FUZZ_REPRO'])[:5 + 1])
        return

    callable_funcs, via_aggregate, recv_funcs = [], [], []
    only = os.environ.get('FUZZ_ONLY')
    for f in funcs:
        if only and f.name not in only.split(','):
            continue
        names = [types.name(t) for t in f.argtypes]
        if 'internal' in names:
            (recv_funcs if f.name.endswith('_recv') else via_aggregate).append(f)
        else:
            callable_funcs.append(f)
    print('%d functions and aggregates in schema bandit: %d called directly, %d receive functions (binary COPY), '
          '%d transition functions with an internal state (through their aggregates)'
          % (len(funcs), len(callable_funcs), len(recv_funcs), len(via_aggregate)), flush=True)

    counts = Counter()
    states = Counter()      # clean errors by full SQLSTATE
    per_func = Counter()
    failures = defaultdict(dict)     # sig -> key -> [count, repro, detail]
    slowest = []
    skip, timeouts, crashes_of = set(), Counter(), Counter()

    def fail(func, cls, state, msg, repro):
        norm = re.sub(r'\d+(\.\d+)?(e[-+]?\d+)?', 'N', (msg or '')[:120])
        key = (cls, state, norm)
        d = failures[func.sig]
        if key in d:
            d[key][0] += 1
        else:
            d[key] = [1, repro, msg]

    def checksum():
        run.phase = 'checksum'
        try:
            return run.scalar(fx.checksum_sql)
        finally:
            run.phase = 'other'

    literal_args = re.compile(r"^SELECT \* FROM bandit\.\w+\(('(?:[^']|'')*')::text, ('(?:[^']|'')*')::")

    def contradiction(func, sql, desc, row):
        """An answer that contradicts the state: an arm the policy lacks, a decision logged with another
        arm, a variant the experiment lacks or a unit's stored assignment that differs."""
        m = literal_args.match(sql)
        if not m:
            return None
        val = dict((c, v) for (c, _), v in zip(desc, row))
        if func.name in ('choose', 'choose_k', 'recommend') and val.get('arm') is not None:
            ok_arm = run.scalar('SELECT EXISTS (SELECT 1 FROM bandit.arm WHERE policy = %s AND arm = %s)'
                                % (m.group(1), lit(val['arm'])))
            if ok_arm != 't':
                return 'returned arm %r, which policy %s does not have' % (val['arm'][:60], m.group(1))
            if val.get('decision_id'):
                logged = run.scalar('SELECT arm FROM bandit.decision WHERE id = %s' % val['decision_id'])
                if logged != val['arm']:
                    return 'returned arm %r but logged decision %s with arm %r' % (
                        val['arm'][:60], val['decision_id'], (logged or '')[:60])
        if func.name == 'assign' and val.get('assign') is not None:
            stored = run.scalar('SELECT variant FROM bandit.assignment WHERE experiment = %s AND unit_id = %s'
                                % (m.group(1), m.group(2)))
            if stored != val['assign']:
                return 'returned variant %r, stored assignment %r' % (val['assign'][:60], (stored or '')[:60])
        return None

    first_literal = re.compile(r"^SELECT \* FROM bandit\.\w+\(('(?:[^']|'')*')::(text|bigint)")
    FOLLOW_UP = {'create_policy', 'reward', 'add_arm', 'set_arm_budget', 'restore'}

    def follow_up(func, sql, finite, repro):
        """After a call that changed a policy succeeds, the policy must still choose: an error or a
        non-finite propensity there means the call let in something that poisons it (a temperature of
        1e-320, a reward of 1e308 to softmax, ...)."""
        m = first_literal.match(sql)
        if not m:
            return
        if m.group(2) == 'bigint':
            st, rows = run.execute('SELECT quote_literal(policy) FROM bandit.decision WHERE id = %s' % m.group(1))[:2]
            if st != 'ok' or not rows:
                return
            policy = rows[0][0]
        else:
            policy = m.group(1)
        st, rows = run.execute('SELECT algorithm, mode FROM bandit.policy WHERE name = %s' % policy)[:2]
        if st != 'ok' or not rows:
            return
        q = 'SELECT * FROM bandit.choose(%s, %s)' % (policy, "'{\"a\": 1}'" if rows[0][0] == 'linucb' else 'NULL')
        st, rows, desc, state, msg = run.execute(q)[:5]
        if st == 'crash':
            counts[Outcome.CRASH] += 1
            fail(func, Outcome.CRASH, None, 'in the choose after it', repro + ' ' + q + ';')
        elif st == 'error' and state and state[:2] in ('22', 'XX', '54'):
            counts[Outcome.POISONED] += 1
            fail(func, Outcome.POISONED, state, 'a later choose fails: %s' % msg, repro + ' ' + q + ';')
        elif st == 'ok' and finite and rows and any(nonfinite_in('double precision', v, types, 701)
                                                    for (c, _), v in zip(desc, rows[0]) if c == 'propensity'):
            counts[Outcome.POISONED] += 1
            fail(func, Outcome.POISONED, None, 'a later choose logs propensity %s' % rows[0][2], repro + ' ' + q + ';')

    def one(func, sql, finite, huge, volatile, copy=None, cleanup=None, argvals=None, setup=None):
        before_history = list(run.history)
        before = checksum() if volatile and rng.random() < CHECKSUM_SHARE else None
        run.phase = 'call'
        status, rows, desc, state, msg, secs = run.execute(sql, copy_data=copy)
        run.phase = 'other'
        if cleanup:
            if status in ('crash', 'overran'):
                pass
            else:
                run.execute(cleanup)
        per_func[func.sig] += 1
        slowest.append((secs, func.sig, sql[:300]))
        if len(slowest) > 40:
            slowest.sort(reverse=True)
            del slowest[20:]
        repro = (setup + '; ' if setup else '') + sql + ';' + (' ' + cleanup + ';' if cleanup else '')
        if status == 'crash':
            counts[Outcome.CRASH] += 1
            crashes_of[func.sig] += 1
            if crashes_of[func.sig] == 1 and copy is None:    # again, alone in a fresh session
                again = run.execute(sql)[0]
                if cleanup and again not in ('crash', 'overran'):
                    run.execute(cleanup)
                if again == 'crash':
                    msg = 'crashes every time (again in a fresh session)'
                else:
                    msg = ('crashed once, not again in a fresh session (%s): the statements before it in the '
                           'crashed session were: %s' % (again, ' ;; '.join(x[:300] for x in before_history)))
            fail(func, Outcome.CRASH, None, msg, repro)
            if crashes_of[func.sig] >= 3:
                skip.add(func.sig)
            return
        if status == 'overran':
            counts[Outcome.OVERRAN] += 1
            timeouts[func.sig] += 2
            gen.tame.add(func.sig)
            fail(func, Outcome.OVERRAN, None, 'ran %.1f s past statement_timeout %.0f s, killed' % (secs - TIMEOUT_S, TIMEOUT_S), repro)
            return
        if status == 'timeout':
            counts[Outcome.TIMEOUT] += 1
            timeouts[func.sig] += 1
            if timeouts[func.sig] >= 2:
                gen.tame.add(func.sig)
            return
        if status == 'error':
            if state == 'XX000':
                counts[Outcome.XX000] += 1
                fail(func, Outcome.XX000, state, msg, repro)
            elif state == 'ENCODING':
                counts[Outcome.ROUNDTRIP] += 1
                fail(func, Outcome.ROUNDTRIP, state, msg, repro)
            elif state in ('23502', '23503', '23514') and 'violates' in (msg or ''):
                # a table's constraint caught what the function should have checked: the message names a
                # constraint, not the argument and what is accepted (API.md, general rules)
                counts[Outcome.CONSTRAINT] += 1
                fail(func, Outcome.CONSTRAINT, state, msg, repro)
            else:
                counts['error %s' % (state[:2] if state else '??')] += 1
                states[state] += 1
                shown = imprecise_message(msg, argvals)
                if shown:
                    counts[Outcome.MESSAGE] += 1
                    fail(func, Outcome.MESSAGE, state, '%s (%s)' % (shown, msg), repro)
            if before is not None:
                after = checksum()
                if after != before:
                    changed = sorted(set(after.split(' ')) - set(before.split(' ')))
                    counts[Outcome.STATE] += 1
                    fail(func, Outcome.STATE, state, 'failed with %s and changed the state tables: %s (before: %s)'
                         % (state, ' '.join(changed)[:300], ' '.join(sorted(set(before.split(' ')) - set(after.split(' '))))[:300]), repro)
            return
        bad = False
        if copy is not None:
            st2, raw, _, _, _, _ = run.execute("SELECT encode(textsend(v::text), 'hex') FROM %s" % recv_table[0])
            if st2 == 'ok' and raw and raw[0][0] is not None:
                try:
                    bytes.fromhex(raw[0][0]).decode('utf-8')
                except UnicodeDecodeError:
                    run.execute('TRUNCATE %s' % recv_table[0])
                    counts[Outcome.ROUNDTRIP] += 1
                    fail(func, Outcome.ROUNDTRIP, None, 'receive accepted text that is not valid UTF-8: output bytes %s'
                         % raw[0][0][:120], repro)
                    return
            st2, rows, desc, s2, m2, _ = run.execute('SELECT v FROM %s' % recv_table[0])
            run.execute('TRUNCATE %s' % recv_table[0])
            if st2 != 'ok':
                rows, desc = [], []
        for row in (rows or [])[:20]:
            for problem in invariant_problems(func.name, desc, row) if finite else []:
                bad = True
                counts[Outcome.INVARIANT] += 1
                fail(func, Outcome.INVARIANT, None, problem, repro)
            problem = contradiction(func, sql, desc, row)
            if problem:
                bad = True
                counts[Outcome.WRONG] += 1
                fail(func, Outcome.WRONG, None, problem, repro)
            for (cname, toid), val in zip(desc, row):
                tname = types.name(toid) if toid in types.info else None
                if tname is None or val is None:
                    continue
                if finite and nonfinite_in(tname, val, types, toid):
                    allowed = ALLOWED.get((func.name, cname))
                    if not (allowed and allowed[0](val, sql)):
                        bad = True
                        counts[Outcome.NAN] += 1
                        fail(func, Outcome.NAN, None, '%s = %s from finite inputs' % (cname, val[:200]), repro)
                if tname not in TRIVIAL_ROUNDTRIP and not tname.startswith('pg_'):
                    run.phase = 'roundtrip'
                    problem = run.roundtrip(tname, val)
                    run.phase = 'other'
                    if problem:
                        bad = True
                        counts[Outcome.ROUNDTRIP] += 1
                        fail(func, Outcome.ROUNDTRIP, None, '%s %s = %s: %s' % (cname, tname, val[:120], problem), repro)
        if func.volatile == 'i' and func.kind == 'f' and copy is None and rng.random() < IMMUTABLE_SHARE:
            # an IMMUTABLE function answers the same twice (uninitialised or freed memory does not)
            again = run.execute(sql)
            if again[0] == 'ok' and again[1] != rows:
                bad = True
                counts[Outcome.UNSTABLE] += 1
                fail(func, Outcome.UNSTABLE, None, 'IMMUTABLE, but answered %s, then %s' % (str(rows)[:150], str(again[1])[:150]),
                     repro)
        if volatile:
            fx.changes = fx.changes[-9:] + [sql]
            if func.name in FOLLOW_UP:
                run.phase = 'follow-up'
                follow_up(func, sql, finite, repro)
                run.phase = 'other'
        if volatile and not fx.intact():    # a drop, stop, retire, ...: the next calls get a whole fixture
            run.phase = 'fixture'
            fx.reset()
            run.phase = 'other'
        if volatile:
            run.phase = 'state scan'
            st3, r3 = run.execute(fx.nonfinite_sql)[:2]
            run.phase = 'other'
            if st3 == 'ok' and r3:
                bad = True
                counts[Outcome.STORED] += 1
                fail(func, Outcome.STORED, None, 'left %s non-finite%s: %s; the successful calls before it: %s'
                     % (r3[0][0], '' if finite else ' (non-finite input)', r3[0][1][:200],
                        ' ;; '.join(x[:300] for x in fx.changes[-4:])), repro)
                fx.reset()
        if not bad:
            counts[Outcome.OK] += 1
        if huge and secs > 1.0:
            timeouts[func.sig] += 0.5

    # receive functions: a table of the type, and valid binary forms to mutate
    recv_valid = {}
    recv_table = [None]
    for f in recv_funcs:
        tname = types.name(f.rettype)
        sample = {'bandit.summary': "bandit.make_summary(3, 1, 2)",
                  'bandit.ensemble_tally': "bandit.ensemble_tally('x', 1.5)",
                  'bandit.snips_state': "'(2,1,0.5,1,0.5,0.5)'::bandit.snips_state"}.get(tname)
        if sample:
            val = run.scalar('SELECT encode(%s::bytea, \'hex\') FROM (SELECT %s AS v) s' %
                             ('bandit.%s(v)' % f.name.replace('_recv', '_send'), sample))
            recv_valid[f.sig] = (tname, bytes.fromhex(val))

    def mutate_bytes(b):
        b = bytearray(b)
        r = rng.random()
        hostile8 = [struct.pack('!d', x) for x in (float('nan'), float('inf'), -float('inf'), 1e308, -1e308, 5e-324, -0.0)]
        hostile8 += [struct.pack('!q', x) for x in (-1, 2 ** 63 - 1, -2 ** 63, 0)]
        if r < 0.15:
            return bytes(b[:rng.randrange(len(b) + 1)])
        if r < 0.25:
            return bytes(b) + bytes(rng.randrange(256) for _ in range(rng.randint(1, 9)))
        if r < 0.6 and len(b) >= 8:
            for _ in range(rng.randint(1, 2)):
                i = rng.randrange(0, len(b) - 7)
                b[i:i + 8] = rng.choice(hostile8)
            return bytes(b)
        if r < 0.75 and len(b) >= 4:     # a length or count field
            i = rng.randrange(0, len(b) - 3)
            b[i:i + 4] = struct.pack('!i', rng.choice([-1, 0, 1, 2 ** 31 - 1, 1000000, 3]))
            return bytes(b)
        if r < 0.85:
            i = rng.randrange(len(b)) if b else 0
            return bytes(b[:i]) + rng.choice([b'\xff\xfe', b'\xc3', b'\x00', b'\xed\xa0\x80']) + bytes(b[i:])
        for _ in range(rng.randint(1, 4)):
            if b:
                b[rng.randrange(len(b))] = rng.randrange(256)
        return bytes(b)

    def sweep_values(func, argname, typ):
        """The systematic phase's values for one argument: each hostile class of its type once."""
        name = types.name(typ)
        if name == 'double precision':
            pool = NONFINITE_F + ['1e308', '-1e308', '5e-324', '1e-320', '0', '-1', '1e300', '1e-300']
        elif name == 'bigint':
            pool = ['9223372036854775807', '-9223372036854775808', '0', '-1', '2147483648']
        elif name == 'integer':
            pool = ['2147483647', '-2147483648', '0', '-1', '100000']
        elif name == 'text':
            pool = ["''", "repeat('x', 100000)", "'é日本🙂'", "'nope'", "repeat('é', 5000)"]
        elif name == 'cstring':
            pool = (SUMMARY_TEXTS if 'summary' in func.name else SNIPS_TEXTS if 'snips' in func.name
                    else TALLY_TEXTS)
        elif name == 'jsonb':
            out = [gen.cast(x, typ) for x in HOSTILE_JSONB] + [gen._hostile(func, argname, typ, name) for _ in range(4)]
            if argname == 'params':     # each known parameter at each extreme
                out += [gen.cast(lit('{"%s": %s}' % (k, v)), typ) for k in PARAM_KEYS for v in PARAM_EXTREMES]
            return out
        elif name == 'bandit.summary':
            pool = HOSTILE_SUMMARY
        elif name == 'bandit.ensemble_tally':
            pool = HOSTILE_TALLY
        elif name == 'bandit.snips_state':
            pool = HOSTILE_SNIPS
        elif name == 'interval':
            pool = ["'-1 day'", "'0'", "'178000000 years'"]
        elif types.is_array(typ):
            ename = types.name(types.info[typ]['elem'])
            out = [V("'{}'::%s" % name), V('ARRAY[NULL]::%s' % name)]
            out += [gen.hostile_array(func, argname, typ, name) for _ in range(6)]
            huge = {'double precision': "array_fill(0.5::float8, ARRAY[100000])",
                    'text': "ARRAY(SELECT 'a' || i FROM generate_series(1, 100000) i)",
                    'bigint': "array_fill(3::bigint, ARRAY[300, 300])"}.get(ename)
            if huge:
                out.append(V('%s::%s' % (huge, name), huge=True))
            return out
        elif types.info[typ]['kind'] == 'c':
            return [gen.hostile_composite(typ) for _ in range(4)]
        else:
            return []
        return [gen.cast(x, typ) for x in pool]

    def sweep():
        """Every function: NULL in each argument, then each hostile class in each argument, the
        others valid (aggregates: one hostile row among valid ones); a function of several arrays
        gets them all long and of one length (30,000: a policy or test of that many arms)."""
        for func in callable_funcs:
            arrays = [i for i, t in enumerate(func.argtypes) if types.is_array(t)]
            if len(arrays) >= 2 and func.kind == 'f':
                fixed = {}
                for i in arrays:
                    ename = types.name(types.info[func.argtypes[i]]['elem'])
                    fixed[i] = V({'double precision': "array_fill(2::float8, ARRAY[30000])",
                                  'text': "ARRAY(SELECT 'a' || i FROM generate_series(1, 30000) i)",
                                  'bigint': "ARRAY(SELECT i::bigint FROM generate_series(1, 30000) i)",
                                  'bandit.summary': "array_fill('(3,1,2)'::bandit.summary, ARRAY[30000])"
                                  }.get(ename, 'NULL') + '::' + types.name(func.argtypes[i]), huge=True)
                yield func, arrays[0], fixed.pop(arrays[0]), fixed
            anchors = [j for j, nm in enumerate(func.argnames) if nm in ANCHORS]
            for i, (argname, typ) in enumerate(zip(func.argnames, func.argtypes)):
                for bad in [gen.null(typ)] + sweep_values(func, argname, typ):
                    if anchors and i != anchors[0]:
                        # against each policy (experiment, agent) of the fixture in turn
                        for value in ANCHORS[func.argnames[anchors[0]]]:
                            yield func, i, bad, {anchors[0]: gen.cast(value, func.argtypes[anchors[0]])}
                        if func.argnames[anchors[0]] == 'policy' and func.name in FOLLOW_UP:
                            # and a policy that has learned nothing yet, made just before
                            name = new_name('fz_fresh')
                            algorithm = rng.choice(['softmax', 'thompson', 'ucb1', 'epsilon_greedy', 'linucb'])
                            yield func, i, bad, {anchors[0]: gen.cast(name, func.argtypes[anchors[0]]),
                                                 'setup': "SELECT bandit.create_policy(%s, '%s', '{a,b,c}'%s)" % (
                                                     name, algorithm, ", '{\"dim\": 3}'" if algorithm == 'linucb' else '')}
                    else:
                        yield func, i, bad, {}

    def build(func, target, bad, strategy, huge_ok, fixed):
        """(sql, finite, huge, cleanup) of one call."""
        if func.kind == 'a':
            if target is None:
                rows = agg_rows(func, gen, strategy, huge_ok)
            else:
                rows = [[gen.valid(func, nm, t) for nm, t in zip(func.argnames, func.argtypes)]
                        for _ in range(rng.randint(1, 3))]
                rows.insert(rng.randint(0, len(rows)), [bad if j == target else gen.valid(func, nm, t)
                                                         for j, (nm, t) in enumerate(zip(func.argnames, func.argtypes))])
            finite = all(v.finite for r in rows for v in r)
            if func.combine and rows and rng.random() < PARALLEL_SHARE:
                return agg_parallel_sql(func, rows, types), finite, False, 'ROLLBACK', {}
            huge = any(v.huge or is_huge(v.sql) for r in rows for v in r)
            if not huge and huge_ok and rng.random() < 0.04:
                return agg_sql(func, rows, types, True), finite, True, None, {}
            return agg_sql(func, rows, types), finite, huge, None, {}
        args = []
        nargs = len(func.argtypes)
        pick = target if target is not None else (rng.randrange(nargs) if nargs else -1)
        for i, (name, typ) in enumerate(zip(func.argnames, func.argtypes)):
            if target is not None and i == target:
                args.append(bad)
            elif i in fixed:
                args.append(fixed[i])
            elif strategy == 'all_hostile' or strategy == 'one_hostile' and i == pick:
                args.append(gen.hostile(func, name, typ, huge_ok))
            elif strategy == 'one_null' and i == pick:
                args.append(gen.null(typ))
            else:
                args.append(gen.valid(func, name, typ))
        argvals = {}
        for name, v in zip(func.argnames, args):
            m = re.match(r"^\(?'?(-?[\d.]+(?:e[-+]?\d+)?)'?\)?::double precision$", v.sql)
            if m:
                argvals[name] = float(m.group(1))
        return (call_sql(func, args), all(v.finite for v in args),
                any(v.huge or is_huge(v.sql) for v in args), None, argvals)

    def stale_cache_check():
        """A session's cached LinUCB state must follow the arm, not the place of its row: two arms
        rewarded in one transaction (one xmin), b's row before a's, alone in the table; VACUUM FULL
        packs them into its first two places; this session caches them (recommend); CLUSTER on the
        primary key swaps their places.  This session must then answer as before, and as a new
        session does.  The fixture is rebuilt afterwards."""
        rec = next(f for f in funcs if f.name == 'recommend')
        name = "'fz_cache'"
        fx.wipe()
        pkey = run.scalar("SELECT quote_ident(c.relname) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                          "WHERE i.indrelid = 'bandit.arm'::regclass AND i.indisprimary")
        steps = ['VACUUM FULL bandit.arm',
                 "SELECT bandit.create_policy(%s, 'linucb', '{b,a}', '{\"dim\": 2}')" % name]
        for sql in steps:
            run.execute(sql)
        decided = {}
        for _ in range(12):
            st, rows = run.execute("SELECT decision_id, arm FROM bandit.choose(%s, '{\"features\": [1, 0]}')" % name)[:2]
            if st == 'ok' and rows:
                decided.setdefault(rows[0][1], rows[0][0])
            if len(decided) == 2:
                break
        if len(decided) < 2:
            return
        q = "SELECT arm, score FROM bandit.recommend(%s, 2, '{\"features\": [1, 0]}') ORDER BY arm" % name
        steps += ['BEGIN; SELECT bandit.reward(%s, 1); SELECT bandit.reward(%s, 0); COMMIT' % (decided['b'], decided['a']),
                  'VACUUM FULL bandit.arm']
        for sql in steps[2:]:
            run.execute(sql)
        before = run.execute(q)
        run.execute("CLUSTER bandit.arm USING %s" % pkey)
        after = run.execute(q)
        per_func[rec.sig] += 1
        repro = ('-- in an empty bandit.arm: %s; -- b and a chosen with features [1, 0] (decisions db, da); %s; '
                 'VACUUM FULL bandit.arm; %s; CLUSTER bandit.arm USING %s; %s; -- differs from %s in a new session'
                 % ('; '.join(steps[:2]), steps[2].replace(decided['b'], 'db', 1).replace(decided['a'], 'da', 1),
                    q, pkey, q, q))
        if 'crash' in (before[0], after[0]):
            counts[Outcome.CRASH] += 1
            fail(rec, Outcome.CRASH, None, 'in the stale-cache check', repro)
            return
        fresh = Runner(DB, types, timeout_s=TIMEOUT_S)
        st, theirs = fresh.execute(q)[:2]
        fresh.conn.close()
        if st == 'crash':       # the restart took this session too
            counts[Outcome.CRASH] += 1
            fail(rec, Outcome.CRASH, None, 'in a new session', repro)
            run.conn = None
            run.connect()
            return
        if after[0] == 'ok' and st == 'ok' and [tuple(r) for r in after[1]] != [tuple(r) for r in theirs]:
            counts[Outcome.STALE] += 1
            fail(rec, Outcome.STALE, None, 'after CLUSTER this session says %s (before: %s), a new session %s'
                 % (after[1], before[1], theirs), repro)
        fx.reset()

    t_start = time.time()
    last_reset = 0
    n = 0
    weights = []
    for f in callable_funcs + recv_funcs:
        weights.append(3 if f.volatile == 'v' and f.kind == 'f' else 2 if f.kind == 'a' else 1)
    pool = callable_funcs + recv_funcs
    planned = sweep() if os.environ.get('FUZZ_SWEEP', '1') != '0' else None
    while n < CALLS:
        if n - last_reset >= RESET_EVERY or n % 100 == 0 and fx.grown():   # big tables slow every check
            run.phase = 'fixture'
            fx.reset()
            last_reset = n
        elif n % 250 == 125:
            run.phase = 'fixture'
            fx.refresh()
        run.phase = 'other'
        target = bad = None
        fixed = {}
        if planned is not None:
            try:
                func, target, bad, fixed = next(planned)
            except StopIteration:
                planned = None
                run.phase = 'stale cache'
                stale_cache_check()
                run.phase = 'other'
                print('systematic phase: %d calls in %.0f s (%s)' % (n, time.time() - t_start, ', '.join(
                    '%s %.1f' % kv for kv in sorted(run.spent.items()))), flush=True)
        if planned is None:
            func = rng.choices(pool, weights)[0]
        if func.sig in skip:
            continue
        if bad is not None and (bad.huge or is_huge(bad.sql)) and timeouts[func.sig] >= 2:
            continue
        n += 1
        if planned is None and n % 2000 == 1000:
            run.phase = 'stale cache'
            stale_cache_check()
            run.phase = 'other'
        huge_ok = timeouts[func.sig] < 2 and rng.random() < 0.5
        volatile = func.volatile != 'i'
        if func in recv_funcs:
            if func.sig not in recv_valid:
                continue
            tname, valid = recv_valid[func.sig]
            data = mutate_bytes(valid) if rng.random() < 0.9 else valid
            table = 'fz_recv_' + re.sub(r'\W', '_', tname)
            run.execute('CREATE TEMP TABLE IF NOT EXISTS %s(v %s)' % (table, tname))
            head = 'COPY %s FROM STDIN (FORMAT binary)' % table
            recv_table[0] = table
            one(func, head, False, False, False, copy=copy_binary(data))
            # the recorded repro gets the bytes
            for rec in failures.get(func.sig, {}).values():
                if rec[1] == head + ';':
                    rec[1] = ('CREATE TEMP TABLE %s(v %s); %s;  -- one field of bytes \\x%s'
                              % (table, tname, head, data.hex()))
            continue
        strategy = rng.choices(['one_hostile', 'all_valid', 'all_hostile', 'one_null'], [55, 12, 20, 13])[0]
        setup = fixed.pop('setup', None)
        if setup:
            run.execute(setup)
        sql, finite, huge, cleanup, argvals = build(func, target, bad, strategy, huge_ok, fixed)
        one(func, sql, finite, huge, volatile, cleanup=cleanup, argvals=argvals, setup=setup)
    elapsed = time.time() - t_start

    # A role without privileges of its own can still run every aggregate: PostgreSQL checks EXECUTE
    # on the aggregate, not on its (revoked) support functions.
    run.execute("DO $$ BEGIN CREATE ROLE fz_plain; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    run.execute('GRANT USAGE ON SCHEMA bandit TO fz_plain')
    plain_denied = []
    for func in callable_funcs:
        if func.kind != 'a':
            continue
        rows = [[gen.valid(func, nm, t) for nm, t in zip(func.argnames, func.argtypes)] for _ in range(3)]
        sql = agg_sql(func, rows, types)
        st, _, _, state, msg = run.execute('SET ROLE fz_plain; ' + sql)[:5]
        run.execute('RESET ROLE')
        if st == 'error' and state == '42501':
            plain_denied.append('%s: %s -- %s' % (func.sig, msg, sql))

    # report
    print('%d calls in %.0f s (seed %d)' % (n, elapsed, SEED))
    print('seconds by phase: %s; %d fixture rebuilds' % (', '.join('%s %.1f' % kv for kv in sorted(run.spent.items())),
                                                       fx.resets))
    print('outcomes:')
    for k, v in sorted(counts.items(), key=lambda kv: -kv[1]):
        print('  %-18s %6d' % (k, v))
    print('clean errors, most frequent SQLSTATEs: %s' % ', '.join('%s %d' % kv for kv in states.most_common(12)))
    slowest.sort(reverse=True)
    print('slowest calls:')
    for secs, sig, sql in slowest[:8]:
        print('  %6.2f s  %s' % (secs, sql[:220]))
    never = [f.sig for f in pool if per_func[f.sig] == 0]
    if via_aggregate:
        print('reached through their aggregates: %s' % ', '.join(f.sig for f in via_aggregate))
    if skip:
        print('skipped after 3 crashes: %s' % ', '.join(sorted(skip)))
    dump = []
    for f in pool:
        d = failures.get(f.sig)
        if d:
            print('FAILURES %s (%d calls):' % (f.sig, per_func[f.sig]))
            for (cls, state, _), (cnt, repro, msg) in sorted(d.items(), key=lambda kv: kv[0][0]):
                print('  %s%s x%d: %s' % (cls, ' ' + state if state else '', cnt, (msg or '')[:200]))
                print('    %s' % repro[:600])
                dump.append(dict(function=f.sig, cls=cls, sqlstate=state, count=cnt, message=msg, repro=repro))
        ok('fuzz %s' % f.sig, not d, '%d distinct failures' % len(d or {}))
    for sig in public_support:
        print('PUBLIC may execute aggregate support function %s' % sig)
    for line in plain_denied:
        print('a plain role cannot run aggregate %s' % line)
    ok('fuzz: a plain role runs every aggregate', not plain_denied, '%d cannot' % len(plain_denied))
    ok('fuzz: aggregate support functions not executable by PUBLIC', not public_support,
       '%d are: %s' % (len(public_support), ', '.join(public_support)))
    ok('fuzz: at least 10000 calls', n >= 10000 or CALLS < 10000, '%d calls' % n)
    ok('fuzz: every function called', not never, 'never called: %s' % ', '.join(never))
    if os.environ.get('FUZZ_REPORT'):
        with open(os.environ['FUZZ_REPORT'], 'w') as fh:
            json.dump(dict(seed=SEED, calls=n, seconds=elapsed, counts=counts, failures=dump), fh, indent=1)
    sys.exit(report())


fx = None
if __name__ == '__main__':
    main()
