"""Reference solutions of the labs (``notebooks/labs/``) and the common wrong answers.

Kept out of the notebooks and out of the ``raftlab`` package on purpose: a learner should
write these, not import them.  ``tests/test_labs.py`` checks that every correct variant
passes ``raftlab.labs.check`` and that every wrong one fails with the property named.
"""

from __future__ import annotations

from raftlab.messages import RequestVote
from raftlab.node import RaftNode

# ------------------------------------------------------------------ lab 1: votes


class Votes(RaftNode):
    """The paper's rules, as the lab's solution cell writes them (§5.2, §5.4.1)."""

    def candidate_up_to_date(self, last_log_index: int, last_log_term: int) -> bool:
        my_last_term = self.log.last_term
        if last_log_term != my_last_term:
            return last_log_term > my_last_term  # the later last term wins
        return last_log_index >= self.log.last_index  # same term: the longer log wins

    def grants_vote(self, msg: RequestVote) -> bool:
        if msg.term != self.current_term:
            return False
        if self.voted_for not in (None, msg.candidate_id):
            return False  # one vote per term
        return self.candidate_up_to_date(msg.last_log_index, msg.last_log_term)


class VotesAsTuples(RaftNode):
    """Written differently: Python compares tuples term first, then index."""

    def candidate_up_to_date(self, last_log_index: int, last_log_term: int) -> bool:
        return (last_log_term, last_log_index) >= (self.log.last_term, self.log.last_index)

    def grants_vote(self, msg: RequestVote) -> bool:
        free = self.voted_for is None or self.voted_for == msg.candidate_id
        up_to_date = self.candidate_up_to_date(msg.last_log_index, msg.last_log_term)
        return msg.term == self.current_term and free and up_to_date


class LengthOnly(RaftNode):
    def candidate_up_to_date(self, last_log_index, last_log_term):
        return last_log_index >= self.log.last_index  # compares log lengths only


class StrictlyNewer(RaftNode):
    def candidate_up_to_date(self, last_log_index, last_log_term):
        if last_log_term != self.log.last_term:
            return last_log_term > self.log.last_term
        return last_log_index > self.log.last_index  # '>' where the paper says 'at least'


class TermsOnly(RaftNode):
    def candidate_up_to_date(self, last_log_index, last_log_term):
        return last_log_term >= self.log.last_term  # forgets the length when terms tie


class IndexFirst(RaftNode):
    def candidate_up_to_date(self, last_log_index, last_log_term):
        return (last_log_index, last_log_term) >= (self.log.last_index, self.log.last_term)


class TrustsEveryone(RaftNode):
    def candidate_up_to_date(self, last_log_index, last_log_term):
        return True


class SecondVoteSameTerm(RaftNode):
    def grants_vote(self, msg):
        # forgets "votedFor is null or candidateId": votes again in the same term
        return msg.term == self.current_term and self.candidate_up_to_date(
            msg.last_log_index, msg.last_log_term
        )


class VoteWithoutLogCheck(RaftNode):
    def grants_vote(self, msg):
        return msg.term == self.current_term and self.voted_for in (None, msg.candidate_id)


# -------------------------------------------------------- lab 2: the consistency check


class ConsistencyCheck(RaftNode):
    """The paper's check (§5.3): an entry at prevLogIndex, of term prevLogTerm."""

    def prev_matches(self, prev_log_index: int, prev_log_term: int) -> bool:
        if prev_log_index > self.log.last_index:
            return False  # we do not even have an entry there
        return self.log.term(prev_log_index) == prev_log_term


class ConsistencyCheckByException(RaftNode):
    """Written differently: ask the log, and treat 'no such entry' as a mismatch."""

    def prev_matches(self, prev_log_index: int, prev_log_term: int) -> bool:
        try:
            return self.log.term(prev_log_index) == prev_log_term
        except IndexError:
            return False


class IndexOnly(RaftNode):
    def prev_matches(self, prev_log_index, prev_log_term):
        return prev_log_index <= self.log.last_index  # never looks at the term


class TermWithoutBounds(RaftNode):
    def prev_matches(self, prev_log_index, prev_log_term):
        return self.log.term(prev_log_index) == prev_log_term  # no entry there: IndexError


class OffByOne(RaftNode):
    def prev_matches(self, prev_log_index, prev_log_term):
        return (
            prev_log_index < self.log.last_index  # '<' where '<=' is meant
            and self.log.term(prev_log_index) == prev_log_term
        ) or prev_log_index == 0


class LastTermInstead(RaftNode):
    def prev_matches(self, prev_log_index, prev_log_term):
        # compares the term of our *last* entry, not of the entry at prevLogIndex
        return prev_log_index <= self.log.last_index and self.log.last_term == prev_log_term


class AcceptsEverything(RaftNode):
    def prev_matches(self, prev_log_index, prev_log_term):
        return True


class TermAtLeast(RaftNode):
    def prev_matches(self, prev_log_index, prev_log_term):
        return (
            prev_log_index <= self.log.last_index
            and self.log.term(prev_log_index) >= prev_log_term  # '>=' where '==' is meant
        )


# ------------------------------------------------------------------- lab 3: commit


class Commit(RaftNode):
    """The paper's commit rules (Figure 2; §5.3, §5.4.2)."""

    def leader_commit(self) -> int:
        n = self.replicated_on_majority()
        if n > self.commit_index and self.log.term(n) == self.current_term:
            return n
        return self.commit_index

    def follower_commit(self, leader_commit: int, last_new_index: int) -> int:
        return max(self.commit_index, min(leader_commit, last_new_index))


class CommitByScanning(RaftNode):
    """Written differently: look for the highest N the paper's sentence allows."""

    def leader_commit(self) -> int:
        for n in range(self.log.last_index, self.commit_index, -1):
            if self.log.term(n) != self.current_term:
                break  # earlier entries are of earlier terms: never by counting
            holders = 1 + sum(m >= n for m in self.match_index.values())
            if holders * 2 > len(self.peers) + 1:
                return n
        return self.commit_index

    def follower_commit(self, leader_commit: int, last_new_index: int) -> int:
        return min(leader_commit, last_new_index)  # the node never moves it backward


class CountsReplicas(RaftNode):
    def leader_commit(self):
        return max(self.commit_index, self.replicated_on_majority())  # no term check


class CommitsAlone(RaftNode):
    def leader_commit(self):
        n = self.log.last_index  # the leader's own copy is not a majority
        if self.log.term(n) == self.current_term:
            return max(self.commit_index, n)
        return self.commit_index


class WaitsForEveryone(RaftNode):
    def leader_commit(self):
        n = min((*self.match_index.values(), self.log.last_index))  # every server, not a majority
        if n > self.commit_index and self.log.term(n) == self.current_term:
            return n
        return self.commit_index


class TakesLeaderCommit(RaftNode):
    def follower_commit(self, leader_commit, last_new_index):
        return max(self.commit_index, leader_commit)  # without the min


class MinWithOwnLog(RaftNode):
    def follower_commit(self, leader_commit, last_new_index):
        # the min with our whole log, not with what this message vouched for
        return max(self.commit_index, min(leader_commit, self.log.last_index))


# ------------------------------------------------------------- lab 4: read index


class ReadIndex(RaftNode):
    """The paper's ReadIndex (thesis §6.4) and a lease allowing for drift (§6.4.1)."""

    def read_index_known(self) -> bool:
        # Step 1: the commit index is the cluster's once an entry of our term committed.
        return self.log.term(self.commit_index) == self.current_term

    def read_index_confirmed(self, seq: int) -> bool:
        # Step 3: a majority of the voters (us included) acknowledged round seq or later.
        voters = self.configuration.voters
        acks = sum(1 for v in voters if v == self.id or self.round_acknowledged(v) >= seq)
        return acks >= self.configuration.majority

    def lease_expiry(self) -> float:
        return self.lease_start + self.config.lease_ms * (1 - self.config.max_drift)


class ReadIndexBySorting(RaftNode):
    """Written differently: the majority-th highest acknowledged round, as for commit."""

    def read_index_known(self) -> bool:
        return self.term_started()  # the same question a membership change asks

    def read_index_confirmed(self, seq: int) -> bool:
        conf = self.configuration
        rounds = [self.round_acknowledged(p) for p in self.peers]
        if self.id in conf.voters:
            rounds.append(seq)  # the leader acknowledges its own rounds
        rounds.sort(reverse=True)
        return len(rounds) >= conf.majority and rounds[conf.majority - 1] >= seq

    def lease_expiry(self) -> float:
        cfg = self.config
        return self.lease_start + cfg.lease_ms - cfg.lease_ms * cfg.max_drift


class NoHeartbeatRound(RaftNode):
    def read_index_confirmed(self, seq):
        return True  # "I am the leader": no round to confirm it


class AnyRoundCounts(RaftNode):
    def read_index_confirmed(self, seq):
        # a majority answered *some* heartbeat, maybe one sent before the read arrived
        acks = 1 + sum(self.round_acknowledged(p) > 0 for p in self.peers)
        return acks * 2 > len(self.peers) + 1


class PreviousRoundCounts(RaftNode):
    def read_index_confirmed(self, seq):
        # the round before the read's: it was sent before the read arrived
        acks = 1 + sum(self.round_acknowledged(p) >= seq - 1 for p in self.peers)
        return acks * 2 > len(self.peers) + 1


class HalfIsEnough(RaftNode):
    def read_index_confirmed(self, seq):
        acks = 1 + sum(self.round_acknowledged(p) >= seq for p in self.peers)
        return acks >= (len(self.peers) + 1) // 2  # half of five is 2: not a majority


class SelfCountedTwice(RaftNode):
    def read_index_confirmed(self, seq):
        # 1 for the leader, then every voter that answered, and the leader is a voter
        voters = self.configuration.voters
        acks = 1 + sum(v == self.id or self.round_acknowledged(v) >= seq for v in voters)
        return acks >= self.configuration.majority


class OneAnswerIsEnough(RaftNode):
    def read_index_confirmed(self, seq):
        return any(self.round_acknowledged(p) >= seq for p in self.peers)


class WaitsForEveryPeer(RaftNode):
    def read_index_confirmed(self, seq):
        return all(self.round_acknowledged(p) >= seq for p in self.peers)


class SkipsNoopCheck(RaftNode):
    def read_index_known(self):
        return True  # a leader's commit index is always the cluster's?


class LastEntryOfMyTerm(RaftNode):
    def read_index_known(self):
        # the no-op is in our log, of our term, but not yet committed
        return self.log.last_term == self.current_term


class LeaseWithoutDrift(RaftNode):
    def lease_expiry(self):
        return self.lease_start + self.config.lease_ms  # trusts this clock to be exact


class LeaseForElectionTimeout(RaftNode):
    def lease_expiry(self):
        # followers wait at least this long, by *their* clocks
        return self.lease_start + self.config.election_timeout_ms[0]


#: lab -> the classes that must pass ``check``.
CORRECT: dict[str, list[tuple[type[RaftNode]]]] = {
    "votes": [(Votes,), (VotesAsTuples,)],
    "prev": [(ConsistencyCheck,), (ConsistencyCheckByException,)],
    "commit": [(Commit,), (CommitByScanning,)],
    "reads": [(ReadIndex,), (ReadIndexBySorting,)],
}

#: lab -> (wrong class, the property ``check`` must report).
WRONG: dict[str, list[tuple[type[RaftNode], str]]] = {
    "votes": [
        (LengthOnly, "Leader Completeness"),
        (StrictlyNewer, "Liveness"),
        (TermsOnly, "Leader Completeness"),
        (IndexFirst, "Leader Completeness"),
        (TrustsEveryone, "Leader Completeness"),
        (SecondVoteSameTerm, "Election Safety"),
        (VoteWithoutLogCheck, "Leader Completeness"),
    ],
    "prev": [
        (IndexOnly, "Log Matching"),
        (TermWithoutBounds, "Exception"),
        (OffByOne, "Liveness"),
        (LastTermInstead, "Liveness"),
        (AcceptsEverything, "Log Matching"),
        (TermAtLeast, "Log Matching"),
    ],
    "commit": [
        (CountsReplicas, "Leader Completeness"),
        (CommitsAlone, "Leader Completeness"),
        (WaitsForEveryone, "Liveness"),
        (TakesLeaderCommit, "State Machine Safety"),
        (MinWithOwnLog, "State Machine Safety"),
    ],
    "reads": [
        (NoHeartbeatRound, "Linearizability"),
        (AnyRoundCounts, "Linearizability"),
        (PreviousRoundCounts, "Linearizability"),
        (HalfIsEnough, "Linearizability"),
        (SelfCountedTwice, "Linearizability"),
        (OneAnswerIsEnough, "Linearizability"),
        (WaitsForEveryPeer, "Liveness"),
        (SkipsNoopCheck, "Linearizability"),
        (LastEntryOfMyTerm, "Linearizability"),
        (LeaseWithoutDrift, "Linearizability"),
        (LeaseForElectionTimeout, "Linearizability"),
    ],
}
