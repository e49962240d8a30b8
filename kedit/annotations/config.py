"""The Label Studio labeling interface for verifying probes (one task = one probe).

Shown, top to bottom, in one screen:

- the instructions: two lines, the rest behind a "details" toggle (and in the project's
  instruction panel);
- the head (``$view_head``, HTML built and escaped by ``kedit.annotations.tasks``): a badge that says
  which world to judge in (the EDITED world for ``expect: new`` probes, the REAL world for
  ``expect: keep``), the edit, and the fact the question tests with readable relation labels; a
  one-hop probe shows the chain edit -> hop -> answer and its hop fact;
- the question and the answer (the ``Text`` objects the corrections point at);
- the evidence (``$view_evidence``): the generator, the prerequisite question, the base-model filter;
- the controls.

Controls (the ``from_name`` values the pull side reads):

- ``verdict``      single choice, required: ``correct`` / ``incorrect`` / ``unsure``;
- ``fluency``      rating 1-5 of the question's wording;
- ``question_fix`` free text: the corrected question, empty when it is fine;
- ``answer_fix``   free text: the corrected answer, empty when it is fine (aliases after ``|``).

The object names (``triple``, ``question``, ``answer``) and control names are those of
``kedit-verify/1``, so a project made with it takes this config without losing its annotations.
"""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

VERDICTS = ("correct", "incorrect", "unsure")
VERDICT, FLUENCY, QUESTION_FIX, ANSWER_FIX = "verdict", "fluency", "question_fix", "answer_fix"
FLUENCY_MAX = 5
CONFIG_VERSION = "kedit-verify/2"

SUMMARY = [
    "Is the fact true, and is the answer right for the question, in the world the badge names? Pick a verdict (required).",
    "EDITED world: the edit is true (counterfactual on purpose). REAL world: ignore the edit. Fix the question or answer only if needed.",
]

DETAILS = [
    "Each task is one test question of a knowledge-editing benchmark. The edit is counterfactual on purpose.",
    ("Badge 'judge in the EDITED world' (the question must show the edit): take the edit as true; the answer must be "
     "right given the edit. Badge 'judge in the REAL world' (the question must keep the unedited answer): ignore the "
     "edit; the fact and the answer must be true today."),
    ("One-hop questions show a chain edit -> hop -> answer: the hop fact must be true in the real world, and the "
     "answer must follow from the edit and the hop."),
    ("Verdict 'correct': the fact holds and the answer is a right answer to the question. 'incorrect': the fact is "
     "false, the question is ambiguous or unanswerable, or the answer is wrong and cannot be fixed. 'unsure': you "
     "cannot tell."),
    ("Fluency: 1 = ungrammatical or unclear ... 5 = natural English. Corrections: type a fixed question or answer only "
     "when it needs one (several accepted answers: separate them with |)."),
    ("Evidence: who generated the question (KG triples with their source, or the LLM and its prompt version), the "
     "prerequisite the base model was asked, and whether it passed that filter."),
]
INSTRUCTIONS = SUMMARY + DETAILS

INSTRUCTIONS_HTML = ("<h3>Verify knowledge-editing probes</h3><ul>" + "".join(f"<li>{line}</li>" for line in INSTRUCTIONS)
                     + "</ul>")


_SMALL = "font-size: 13px; font-weight: 400; line-height: 1.4; margin: 0"
_LABEL = "font-size: 14px; font-weight: 400; color: #666; margin: 0"
_TITLE = "font-size: 14px; font-weight: 600; margin: 8px 0 2px"


def labeling_config() -> str:
    """The ``label_config`` XML (validated by Label Studio when the project is created)."""
    summary = "\n".join(f'    <Header size="5" value={quoteattr(line)} style="{_SMALL}"/>' for line in SUMMARY)
    details = "\n".join(f'          <Header size="5" value={quoteattr(line)} style="{_SMALL}; margin-bottom: 4px"/>'
                        for line in DETAILS)
    choices = "\n".join(f'    <Choice value="{v}"/>' for v in VERDICTS)
    return f"""<View>
  <!-- {CONFIG_VERSION} -->
  <View style="padding: 4px 1em; margin-bottom: 8px; background: #f4f4f4; border-radius: 4px">
{summary}
    <Collapse bordered="false">
      <Panel value="details">
        <View>
{details}
        </View>
      </Panel>
    </Collapse>
  </View>
  <HyperText name="triple" value="$view_head" inline="true" selectionEnabled="false"/>
  <View style="display: grid; grid-template-columns: 105px 1fr; align-items: baseline; margin: 4px 0; font-size: 15px">
    <Header size="5" value="Question" style="{_LABEL}"/>
    <Text name="question" value="$question" selectionEnabled="false"/>
    <Header size="5" value="Answer" style="{_LABEL}"/>
    <Text name="answer" value="$answer" selectionEnabled="false"/>
  </View>
  <HyperText name="evidence" value="$view_evidence" inline="true" selectionEnabled="false"/>
  <Header size="5" value="Verdict (required): are the fact and the answer correct in the badge's world?" style="{_TITLE}"/>
  <Choices name="{VERDICT}" toName="triple" choice="single-radio" required="true" showInline="true">
{choices}
  </Choices>
  <View style="display: grid; grid-template-columns: 11em 1fr; gap: 0 1em; align-items: center">
    <Header size="5" value="Fluency of the question" style="{_LABEL}"/>
    <Rating name="{FLUENCY}" toName="question" maxRating="{FLUENCY_MAX}" icon="star"/>
    <Header size="5" value="Corrected question" style="{_LABEL}"/>
    <TextArea name="{QUESTION_FIX}" toName="question" maxSubmissions="1" editable="true" rows="1"
              placeholder="leave empty if fine"/>
    <Header size="5" value="Corrected answer" style="{_LABEL}"/>
    <TextArea name="{ANSWER_FIX}" toName="answer" maxSubmissions="1" editable="true" rows="1"
              placeholder="leave empty if fine; aliases separated by |"/>
  </View>
</View>
"""
