"""The Label Studio labeling interface for verifying probes (one task = one probe).

Shown: the instructions (a header, and the project's instruction panel), the edit, the fact triple
(subject, relation, object), the question with its split and expectation, and the answer.
Controls (the ``from_name`` values the pull side reads):

- ``verdict``      single choice, required: ``correct`` / ``incorrect`` / ``unsure``;
- ``fluency``      rating 1-5 of the question's wording;
- ``question_fix`` free text: the corrected question, empty when it is fine;
- ``answer_fix``   free text: the corrected answer, empty when it is fine (aliases after ``|``).
"""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

VERDICTS = ("correct", "incorrect", "unsure")
VERDICT, FLUENCY, QUESTION_FIX, ANSWER_FIX = "verdict", "fluency", "question_fix", "answer_fix"
FLUENCY_MAX = 5
CONFIG_VERSION = "kedit-verify/1"

INSTRUCTIONS = [
    "Each task is one test question of a knowledge-editing benchmark. The edit is counterfactual on purpose: take it as true.",
    "Verdict 'correct': the fact triple holds (for one-hop questions: in the real world; otherwise: given the edit) "
    "AND the answer is a right answer to the question (given the edit when the question must show the edit; "
    "in the real world when it must keep the old behaviour).",
    "Verdict 'incorrect': the triple is false, the question is ambiguous or unanswerable, or the answer is wrong and cannot be fixed. "
    "'unsure': you cannot tell.",
    "Fluency: 1 = ungrammatical or unclear ... 5 = natural English. "
    "Corrections: type a fixed question or answer only when it needs one (several accepted answers: separate them with |).",
]

INSTRUCTIONS_HTML = "<h3>Verify knowledge-editing probes</h3><ul>" + "".join(f"<li>{line}</li>" for line in INSTRUCTIONS) + "</ul>"


def labeling_config() -> str:
    """The ``label_config`` XML (validated by Label Studio when the project is created)."""
    header = "\n".join(f'    <Header size="6" value={quoteattr(line)}/>' for line in INSTRUCTIONS)
    choices = "\n".join(f'    <Choice value="{v}"/>' for v in VERDICTS)
    return f"""<View>
  <!-- {CONFIG_VERSION} -->
  <View style="padding: 0 1em; margin-bottom: 1em; background: #f4f4f4; border-radius: 4px">
    <Header value="Verify a knowledge-editing probe"/>
{header}
  </View>
  <Header size="5" value="Edit (counterfactual: take it as true)"/>
  <Text name="edit" value="$edit"/>
  <Header size="5" value="Fact triple: subject, relation, object"/>
  <Text name="triple" value="$triple"/>
  <Header size="5" value="Question"/>
  <Text name="probe" value="$probe"/>
  <Text name="question" value="$question"/>
  <Header size="5" value="Answer"/>
  <Text name="answer" value="$answer"/>
  <Header size="5" value="Are the triple and the answer correct? (required)"/>
  <Choices name="{VERDICT}" toName="triple" choice="single-radio" required="true" showInline="true">
{choices}
  </Choices>
  <Header size="5" value="Fluency of the question (1 = unclear, 5 = natural)"/>
  <Rating name="{FLUENCY}" toName="question" maxRating="{FLUENCY_MAX}" icon="star"/>
  <Header size="5" value="Corrected question (leave empty if fine)"/>
  <TextArea name="{QUESTION_FIX}" toName="question" maxSubmissions="1" editable="true" rows="2"/>
  <Header size="5" value="Corrected answer (leave empty if fine; aliases separated by |)"/>
  <TextArea name="{ANSWER_FIX}" toName="answer" maxSubmissions="1" editable="true" rows="1"/>
</View>
"""
