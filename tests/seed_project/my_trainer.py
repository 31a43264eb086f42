from engine.trainer.trainer import BaseTrainer
from engine.trainer.build import BUILD_TRAINER_REGISTRY


@BUILD_TRAINER_REGISTRY.register()
class MyTrainer(BaseTrainer):
    """
    可以不实现，如果不关心中途结果
    """
    def __init__(self, cfg):
        super(MyTrainer, self).__init__(cfg)
        self.seen_epochs = []    # test instrumentation, not part of the seed
        self.loop_finished = False
        return

    def after_loop(self):
        """
        训练的后处理
        """
        self.loop_finished = True
        return

    def iterate_after(self, epoch, loss_dict):
        """
        训练的中的处理
        """
        self.seen_epochs.append((epoch, dict(loss_dict)))
        return
