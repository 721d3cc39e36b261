"""bench/ceiling/Ceiling.java: it builds against the installed Flink and reads the bench's events right.

The bench checks at every run that the ceiling job paired the whole backlog once
(bench/flink_ceiling.py, check_pairs); here its deserializer, its time parse and
its drift bins are run on their own, against what Python reads of the same events.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).parents[3] / "bench"
sys.path.insert(0, str(BENCH))  # the bench's modules import each other by name

import flink_ceiling  # noqa: E402
import flink_job  # noqa: E402

from closeloop.stack.layout import Layout  # noqa: E402
from closeloop.stack.settings import StackSettings  # noqa: E402

# Feeds each line of stdin to the ceiling's deserializer (as a record of the topic named
# first on the line) and prints what it made; then the bins of some numbers.
HARNESS = """
package io.closeloop.bench;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.kafka.shaded.org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.flink.util.Collector;

public class Harness {
    public static void main(String[] args) throws Exception {
        Ceiling.Deserializer parse = new Ceiling.Deserializer("fb", Integer.parseInt(args[0]));
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line; (line = in.readLine()) != null && !line.isEmpty(); ) {
            String[] topicAndValue = line.split(" ", 2);
            List<Ceiling.Event> out = new ArrayList<>();
            byte[] value = topicAndValue[1].getBytes(StandardCharsets.UTF_8);
            parse.deserialize(new ConsumerRecord<>(topicAndValue[0], 0, 0L, null, value), new Collector<>() {
                public void collect(Ceiling.Event e) { out.add(e); }
                public void close() {}
            });
            if (out.isEmpty()) {
                System.out.println("dropped");
                continue;
            }
            Ceiling.Event e = out.get(0);
            StringBuilder inputs = new StringBuilder();
            if (e.inputs != null) {
                for (double x : e.inputs) inputs.append(inputs.length() == 0 ? "" : ",").append(x);
            }
            System.out.println(e.feedback + " " + e.id + " " + e.ts + " " + e.label + " " + e.latencyMs + " ["
                + inputs + "]");
        }
        StringBuilder bins = new StringBuilder();
        for (String x : in.readLine().split(" ")) bins.append(Ceiling.bin(Double.parseDouble(x))).append(" ");
        System.out.println(bins.toString().trim());
    }
}
"""


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The java command that runs the harness against a fresh build of the ceiling job."""
    layout = Layout.from_settings(StackSettings())
    if not list((layout.pyflink / "lib").glob("*.jar")):
        pytest.skip(f"no PyFlink at {layout.pyflink}: `make setup` installs it")
    folder = tmp_path_factory.mktemp("ceiling")
    jar = flink_ceiling.build_jar(layout, folder)
    classpath = ":".join(map(str, [jar, folder, *flink_ceiling.flink_classpath(layout)]))
    (folder / "Harness.java").write_text(HARNESS)
    javac = ["javac", "-nowarn", "-d", str(folder), "-cp", classpath, str(folder / "Harness.java")]
    subprocess.run(javac, check=True)
    return ["java", "-cp", classpath, "io.closeloop.bench.Harness"]


def _millis(ts: str) -> int:
    return round(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000)


def test_the_ceiling_reads_the_bench_events_as_python_does(harness: list[str]) -> None:
    rng = random.Random(7)
    features = 8
    events = []
    for i in range(200):
        _, prediction, feedback = flink_job.pair(i, 1_780_000_000 + i * 0.7311, features, rng)
        events += [("pred", prediction.decode()), ("fb", feedback.decode())]
    broken = ["{not json", '{"ts":"2026-12-07T10:00:00.000Z","prediction_id":"p1"}', "[1, 2]"]
    lines = [f"{topic} {value}" for topic, value in events] + [f"pred {b}" for b in broken]
    numbers = [-3.0, -1.2816, -1.0, -0.2533, 0.0, 0.1, 0.2533, 1.2816, 1.3, 9.0]
    stdin = "\n".join([*lines, "", " ".join(map(str, numbers))]) + "\n"
    out = subprocess.run([*harness, str(features)], input=stdin, capture_output=True, text=True, check=True)
    *parsed, bins = out.stdout.splitlines()

    assert len(parsed) == len(lines)
    for (topic, value), line in zip(events, parsed, strict=False):
        event = json.loads(value)
        is_feedback, pid, ts, label, latency, inputs = line.split(" ")
        assert is_feedback == str(topic == "fb").lower()
        assert pid == event["prediction_id"]
        assert int(ts) == _millis(event["ts"])
        assert int(label) == event["ground_truth" if topic == "fb" else "output"]
        assert float(latency) == pytest.approx(event.get("latency_ms", 0.0))
        if topic == "pred":
            assert [float(x) for x in inputs.strip("[]").split(",")] == list(event["inputs"].values())
    # Not JSON, a prediction without inputs, not an object: dropped, not a crash.
    assert parsed[len(events) :] == ["dropped"] * len(broken)
    # The bin of x: how many edges are <= x, as numpy counts them.
    edges = [-1.2816, -0.8416, -0.5244, -0.2533, 0, 0.2533, 0.5244, 0.8416, 1.2816]
    assert [int(b) for b in bins.split()] == np.searchsorted(edges, numbers, side="right").tolist()
