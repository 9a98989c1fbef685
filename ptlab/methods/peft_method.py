"""The shared part of the methods peft implements: peft wraps the frozen backbone.

Torch-free at import (see ptlab/methods/__init__.py): peft is imported inside the hooks.
"""

from pathlib import Path

from ptlab.kinds import Head
from ptlab.methods import Method

# peft's TaskType for the head the task kind chose (peft picks the model wrapper by it).
PEFT_TASK_TYPES = {
    Head.causal_lm: "CAUSAL_LM",
    Head.seq2seq_lm: "SEQ_2_SEQ_LM",
    Head.sequence_classification: "SEQ_CLS",
    Head.token_classification: "TOKEN_CLS",
    Head.question_answering: "QUESTION_ANS",
}


class PeftMethod(Method):
    peft = True

    def peft_config(self, reader):
        """This method's peft config for the reader's head (`task_type=self.task_type(reader)`)."""
        raise NotImplementedError

    @staticmethod
    def task_type(reader) -> str:
        return PEFT_TASK_TYPES[reader.head]

    def wrap(self, backbone, reader):
        from peft import get_peft_model

        return get_peft_model(backbone, self.peft_config(reader))

    def export(self, model, directory: Path) -> None:
        """Write the trained adapter in peft's own format (loadable with PeftModel.from_pretrained)."""
        model.save_pretrained(str(directory))
